package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/07-cgroups/internal/hierarchy"
)

// TestDevicesV2 loads the device rules of a v2 cgroup as the kernel's
// verifier sees them, attaches them to a cgroup of a cgroup2 mount (a v2
// host's /sys/fs/cgroup, or a v1 host's /sys/fs/cgroup/unified), and has a
// shell born in it open devices: the kernel runs the program at each open.
// The default devices of an OCI config are in the rules, as mini/oci puts
// them: a program that long once overflowed the verifier's log (ENOSPC).
func TestDevicesV2(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("MINI_NO_SKIP") == "1" {
			t.Fatal("bpf(BPF_PROG_LOAD) needs root (MINI_NO_SKIP=1 forbids skipping)")
		}
		t.Skip("bpf(BPF_PROG_LOAD) needs root")
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var top string
	for _, m := range hierarchy.ParseMountinfo(string(data)) {
		if m.FSType == "cgroup2" && top == "" {
			top = m.Point
		}
	}
	if top == "" {
		t.Fatal("no cgroup2 mount in /proc/self/mountinfo")
	}
	dir := filepath.Join(top, fmt.Sprintf("mini-devtest-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })

	// Deny everything, then allow /dev/null (1:3) fully, /dev/zero (1:5)
	// for reading only, and every pts terminal (136:*); the defaults come
	// last as in an OCI config, with /dev/full (1:7) denied after them.
	rules := []steps.DeviceRule{
		{Allow: false, Type: "a", Major: -1, Minor: -1, Access: "rwm"},
		{Allow: true, Type: "c", Major: 1, Minor: 3, Access: "rwm"},
		{Allow: true, Type: "c", Major: 1, Minor: 5, Access: "r"},
		{Allow: true, Type: "c", Major: 1, Minor: 8, Access: "rwm"},
		{Allow: true, Type: "c", Major: 1, Minor: 9, Access: "rwm"},
		{Allow: true, Type: "c", Major: 5, Minor: 0, Access: "rwm"},
		{Allow: true, Type: "c", Major: 5, Minor: 1, Access: "rwm"},
		{Allow: true, Type: "c", Major: 5, Minor: 2, Access: "rwm"},
		{Allow: true, Type: "c", Major: 136, Minor: -1, Access: "rwm"},
		{Allow: true, Type: "c", Major: 1, Minor: 7, Access: "rwm"},
		{Allow: false, Type: "c", Major: 1, Minor: 7, Access: "w"},
	}
	ctx, _ := testContext(&steps.Spec{})
	if err := setDevicesV2(ctx, dir, rules); err != nil {
		t.Fatal(err)
	}
	cg, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cg)
	// Each line says whether one open(2) went through.
	script := `try() { if (eval "$2") 2>/dev/null; then echo "$1 yes"; else echo "$1 no"; fi; }
try null-read ': </dev/null'
try null-write ': >/dev/null'
try zero-read ': </dev/zero'
try zero-write ': >/dev/zero'
try full-read ': </dev/full'
try full-write ': >/dev/full'
try kmsg-read ': </dev/kmsg'`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh in %s: %v\n%s", dir, err, out)
	}
	want := `null-read yes
null-write yes
zero-read yes
zero-write no
full-read yes
full-write no
kmsg-read no
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("opens in a cgroup with the rules (-want +got):\n%s", diff)
	}
}
