package security

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// capNames are the capabilities as capabilities(7) and docker spell them,
// in the kernel's order (their numbers).
var capNames = []struct {
	name string
	nr   int
}{
	{"CAP_CHOWN", unix.CAP_CHOWN},
	{"CAP_DAC_OVERRIDE", unix.CAP_DAC_OVERRIDE},
	{"CAP_DAC_READ_SEARCH", unix.CAP_DAC_READ_SEARCH},
	{"CAP_FOWNER", unix.CAP_FOWNER},
	{"CAP_FSETID", unix.CAP_FSETID},
	{"CAP_KILL", unix.CAP_KILL},
	{"CAP_SETGID", unix.CAP_SETGID},
	{"CAP_SETUID", unix.CAP_SETUID},
	{"CAP_SETPCAP", unix.CAP_SETPCAP},
	{"CAP_LINUX_IMMUTABLE", unix.CAP_LINUX_IMMUTABLE},
	{"CAP_NET_BIND_SERVICE", unix.CAP_NET_BIND_SERVICE},
	{"CAP_NET_BROADCAST", unix.CAP_NET_BROADCAST},
	{"CAP_NET_ADMIN", unix.CAP_NET_ADMIN},
	{"CAP_NET_RAW", unix.CAP_NET_RAW},
	{"CAP_IPC_LOCK", unix.CAP_IPC_LOCK},
	{"CAP_IPC_OWNER", unix.CAP_IPC_OWNER},
	{"CAP_SYS_MODULE", unix.CAP_SYS_MODULE},
	{"CAP_SYS_RAWIO", unix.CAP_SYS_RAWIO},
	{"CAP_SYS_CHROOT", unix.CAP_SYS_CHROOT},
	{"CAP_SYS_PTRACE", unix.CAP_SYS_PTRACE},
	{"CAP_SYS_PACCT", unix.CAP_SYS_PACCT},
	{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN},
	{"CAP_SYS_BOOT", unix.CAP_SYS_BOOT},
	{"CAP_SYS_NICE", unix.CAP_SYS_NICE},
	{"CAP_SYS_RESOURCE", unix.CAP_SYS_RESOURCE},
	{"CAP_SYS_TIME", unix.CAP_SYS_TIME},
	{"CAP_SYS_TTY_CONFIG", unix.CAP_SYS_TTY_CONFIG},
	{"CAP_MKNOD", unix.CAP_MKNOD},
	{"CAP_LEASE", unix.CAP_LEASE},
	{"CAP_AUDIT_WRITE", unix.CAP_AUDIT_WRITE},
	{"CAP_AUDIT_CONTROL", unix.CAP_AUDIT_CONTROL},
	{"CAP_SETFCAP", unix.CAP_SETFCAP},
	{"CAP_MAC_OVERRIDE", unix.CAP_MAC_OVERRIDE},
	{"CAP_MAC_ADMIN", unix.CAP_MAC_ADMIN},
	{"CAP_SYSLOG", unix.CAP_SYSLOG},
	{"CAP_WAKE_ALARM", unix.CAP_WAKE_ALARM},
	{"CAP_BLOCK_SUSPEND", unix.CAP_BLOCK_SUSPEND},
	{"CAP_AUDIT_READ", unix.CAP_AUDIT_READ},
	{"CAP_PERFMON", unix.CAP_PERFMON},
	{"CAP_BPF", unix.CAP_BPF},
	{"CAP_CHECKPOINT_RESTORE", unix.CAP_CHECKPOINT_RESTORE},
}

// DefaultCaps are the 14 capabilities docker gives a container
// (moby's oci/caps.DefaultCapabilities), in its order.
var DefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCaps is docker's word for every capability in --cap-add and --cap-drop.
const allCaps = "ALL"

// capNumber is the number of a capability named as capNames spells it.
func capNumber(name string) (int, bool) {
	for _, c := range capNames {
		if c.name == name {
			return c.nr, true
		}
	}
	return 0, false
}

// capName is the name of capability nr, or its number for one newer than mini.
func capName(nr int) string {
	for _, c := range capNames {
		if c.nr == nr {
			return c.name
		}
	}
	return strconv.Itoa(nr)
}

// normalizeCaps spells --cap-add or --cap-drop as docker does: upper case,
// CAP_ in front, ALL as it is; an unknown name is an error.
func normalizeCaps(flag string, caps []string) ([]string, error) {
	var out []string
	for _, c := range caps {
		n := strings.ToUpper(strings.TrimSpace(c))
		if n != allCaps && !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		if _, ok := capNumber(n); !ok && n != allCaps {
			return nil, fmt.Errorf("--%s %s: unknown capability %q: see capabilities(7) for the names (NET_ADMIN or CAP_NET_ADMIN, any case; ALL)", flag, c, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// CapSet is the container's capability set, as docker computes it (moby's
// TweakCapabilities): every capability with --privileged or --cap-add ALL
// (less --cap-drop), only --cap-add with --cap-drop ALL, else the defaults
// less --cap-drop, plus --cap-add. Like docker's command line, a capability
// both added and dropped is added.
func CapSet(defaults, add, drop []string, privileged bool) ([]string, error) {
	adds, err := normalizeCaps("cap-add", add)
	if err != nil {
		return nil, err
	}
	drops, err := normalizeCaps("cap-drop", drop)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, c := range capNames {
		all = append(all, c.name)
	}
	var caps []string
	switch {
	case privileged:
		return all, nil
	case contains(adds, allCaps):
		for _, c := range all {
			if !contains(drops, c) || contains(adds, c) {
				caps = append(caps, c)
			}
		}
		return caps, nil
	case contains(drops, allCaps):
		caps = nil
	default:
		for _, c := range defaults {
			if !contains(drops, c) || contains(adds, c) {
				caps = append(caps, c)
			}
		}
	}
	for _, c := range adds {
		if !contains(caps, c) {
			caps = append(caps, c)
		}
	}
	return caps, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// capMask turns names into a bit mask, bit n for capability n.
func capMask(names []string) uint64 {
	var m uint64
	for _, n := range names {
		if nr, ok := capNumber(n); ok {
			m |= 1 << nr
		}
	}
	return m
}

// lastCap is the highest capability this kernel has
// (/proc/sys/kernel/cap_last_cap, capabilities(7)), read once; mini's
// table's last when it cannot tell.
var lastCap = sync.OnceValue(func() int {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if n, perr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && perr == nil && n > 0 && n < 64 {
		return n
	}
	return unix.CAP_LAST_CAP
})

// dropBounding takes every capability the container does not get out of
// the bounding set, with prctl(PR_CAPBSET_DROP): no execve can give them
// back, not even of a set-user-ID-root or file-capability program. It needs
// CAP_SETPCAP, which the container's root still has here.
func dropBounding(ctx *steps.Context, keep uint64, last int) error {
	var dropped []string
	for nr := 0; nr <= last; nr++ {
		if keep&(1<<nr) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(nr), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %s): %w", capName(nr), err)
		}
		dropped = append(dropped, strings.TrimPrefix(capName(nr), "CAP_"))
	}
	ctx.Tracef("prctl(PR_CAPBSET_DROP) x%d: %s", len(dropped), strings.Join(dropped, " "))
	return nil
}

// setCaps sets the effective, permitted and inheritable sets with
// capset(2) (version 3: two 32-bit words per set), then the ambient set:
// emptied (PR_CAP_AMBIENT_CLEAR_ALL, Linux 4.3), then each capability of
// amb raised, which the kernel allows only for one both permitted and
// inheritable. mini run asks for effective = permitted = its set, the
// others empty, as docker does; an OCI config may ask for any. For a user
// other than root, execve(2) then empties the permitted and effective sets
// but for the ambient ones: a process that is not root gets capabilities
// at exec only from the program file or the ambient set
// (capabilities(7), "Transformation of capabilities during execve()").
func setCaps(ctx *steps.Context, eff, perm, inh, amb uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	if eff == perm && inh == 0 {
		ctx.Tracef("capset(effective=permitted=%#x, inheritable=0): %s", perm, capList(perm))
	} else {
		ctx.Tracef("capset(effective=%#x, permitted=%#x, inheritable=%#x): %s", eff, perm, inh, capList(eff))
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset %#x: %w%s", perm, err, notBounded(perm|inh))
	}
	ctx.Tracef("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)")
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	for nr := 0; nr < 64; nr++ {
		if amb&(1<<nr) == 0 {
			continue
		}
		ctx.Tracef("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s)", capName(nr))
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(nr), 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAP_AMBIENT_RAISE, %s): %w (an ambient capability must be permitted and inheritable)", capName(nr), err)
		}
	}
	return nil
}

// notBounded names, for an error, the capabilities of want that this
// process's bounding set lacks (prctl(PR_CAPBSET_READ)): no capset(2) can
// give them, they were never mini's to give.
func notBounded(want uint64) string {
	var missing uint64
	for nr := 0; nr <= lastCap(); nr++ {
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(nr), 0, 0, 0); want&(1<<nr) != 0 && err == nil && in == 0 {
			missing |= 1 << nr
		}
	}
	if missing == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s: not in the bounding set mini itself runs with)", capList(missing))
}

// capList names the capabilities of a mask, for the trace.
func capList(m uint64) string {
	var out []string
	for nr := 0; nr < 64; nr++ {
		if m&(1<<nr) != 0 {
			out = append(out, strings.TrimPrefix(capName(nr), "CAP_"))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}
