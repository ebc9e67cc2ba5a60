package steps

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExitCode(t *testing.T) {
	// A wait status is exit code << 8, or the signal number in the low bits.
	for _, tc := range []struct {
		ws   syscall.WaitStatus
		want int
	}{
		{0, 0}, {3 << 8, 3}, {125 << 8, 125}, {syscall.WaitStatus(unix.SIGKILL), 137}, {syscall.WaitStatus(unix.SIGTERM), 143},
	} {
		if got := ExitCode(tc.ws); got != tc.want {
			t.Errorf("ExitCode(%#x) = %d, want %d", tc.ws, got, tc.want)
		}
	}
}

func TestCloneNames(t *testing.T) {
	if got := cloneNames(unix.CLONE_NEWUTS|unix.CLONE_NEWNS, false); got != "CLONE_NEWUTS|CLONE_NEWNS" {
		t.Errorf("got %q", got)
	}
	if got := cloneNames(0, false); got != "0" {
		t.Errorf("got %q", got)
	}
	if got := cloneNames(unix.CLONE_NEWPID, true); got != "CLONE_NEWPID|CLONE_INTO_CGROUP" {
		t.Errorf("got %q", got)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/nonexistent:" + dir}
	if p, err := lookPath("tool", env); err != nil || p != exe {
		t.Errorf("lookPath(tool) = %q, %v", p, err)
	}
	if _, err := lookPath("missing", env); execCode(err) != 127 {
		t.Errorf("missing command: code %d (%v), want 127", execCode(err), err)
	}
	// Even root needs an x bit to execute (access(2)).
	if _, err := lookPath(data, env); execCode(err) != 126 {
		t.Errorf("non-executable file: code %d (%v), want 126", execCode(err), err)
	}
	if _, err := lookPath(dir, env); execCode(err) != 126 {
		t.Errorf("directory: code %d (%v), want 126", execCode(err), err)
	}
}

func TestRootUID(t *testing.T) {
	s := &Spec{UIDMap: []IDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}}
	if s.RootUID() != 100000 || s.RootGID() != 0 {
		t.Errorf("RootUID %d RootGID %d, want 100000 and 0", s.RootUID(), s.RootGID())
	}
}
