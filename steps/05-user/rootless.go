package user

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// checkUnprivileged says, before anything is made, when the kernel will
// refuse a user namespace to a user without root. Three knobs do that,
// depending on the distribution and its age.
func checkUnprivileged() error {
	const advice = "run mini with sudo, or see docs/05-user.md"
	// Debian before 11 and older Ubuntu: a patch that defaults to 0.
	if readInt("/proc/sys/kernel/unprivileged_userns_clone") == 0 {
		return fmt.Errorf("this kernel refuses user namespaces to users without root (sysctl kernel.unprivileged_userns_clone is 0): %s", advice)
	}
	// Every kernel: how many user namespaces each user may create.
	if readInt("/proc/sys/user/max_user_namespaces") == 0 {
		return fmt.Errorf("this kernel allows no user namespaces (sysctl user.max_user_namespaces is 0): %s", advice)
	}
	// Ubuntu 23.10 and later: an unconfined program gets a user namespace
	// without capabilities, so every mount in it would fail.
	if readInt("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1 && unconfined() {
		return fmt.Errorf("AppArmor gives unprivileged user namespaces no capabilities (sysctl kernel.apparmor_restrict_unprivileged_userns is 1): %s", advice)
	}
	return nil
}

// readInt reads a number from a /proc/sys file; -1 when the file is not there
// (the knob does not exist on this kernel) or holds no number.
func readInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// unconfined is true when no AppArmor profile confines mini: a profile may
// grant "userns", the default does not.
func unconfined() bool {
	b, err := os.ReadFile("/proc/self/attr/current")
	return err != nil || strings.HasPrefix(strings.TrimSpace(string(b)), "unconfined")
}
