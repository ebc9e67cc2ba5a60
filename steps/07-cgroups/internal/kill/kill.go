// Package kill empties a cgroup: it kills every process left in it and
// waits until they are gone, so that the cgroup can be removed. Step 7's
// Cleanup and reclaim call it only for a cgroup rmdir(2) finds busy.
// Machinery, not the lesson (steps/07-cgroups/cgroups.go).
package kill

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Procs lists the pids in a cgroup. A cgroup that is not there (a
// Prepare that stopped early, a reclaim that raced another) holds none.
func Procs(dir string) ([]int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killTimeout bounds how long mini waits for killed processes to die: a
// process stuck in the kernel (uninterruptible sleep) cannot die at once.
const killTimeout = 10 * time.Second

// Empty kills every process in the cgroup and waits until they are gone, so
// the cgroup can be removed. Normally there are none left by now: when the
// container's init (PID 1 of its PID namespace) exits, the kernel kills the
// rest of the namespace before mini's wait returns (pid_namespaces(7)).
// This is for what escaped that: processes moved in from outside, a run
// whose mini was killed before its child.
func Empty(ctx *steps.Context, dir string) error {
	for round := 0; round < 100; round++ {
		pids, err := Procs(dir)
		if err != nil || len(pids) == 0 {
			return err
		}
		// A pidfd names a process, not a number that may be reused once it
		// exits (pidfd_open(2)): open them all, then check which pids are
		// still in the cgroup, and signal only those.
		fds := map[int]int{}
		for _, pid := range pids {
			if fd, err := unix.PidfdOpen(pid, 0); err == nil {
				fds[pid] = fd
			}
		}
		still, err := Procs(dir)
		if err == nil {
			err = kill(ctx, dir, fds, still)
		}
		if err == nil {
			err = waitExit(fds)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("%s: processes keep appearing in it", dir)
}

// kill sends SIGKILL to the processes of the cgroup. cgroup v2 has
// cgroup.kill since Linux 5.14: writing 1 kills every process in it at once,
// even one forking at the same moment. Elsewhere each process gets
// pidfd_send_signal(2).
func kill(ctx *steps.Context, dir string, fds map[int]int, pids []int) error {
	if path := filepath.Join(dir, "cgroup.kill"); exists(path) {
		ctx.Tracef("echo 1 > %s", path)
		if err := os.WriteFile(path, []byte("1"), 0); err != nil {
			return fmt.Errorf("write 1 to %s: %w", path, err)
		}
		return nil
	}
	for pid, fd := range fds {
		if !slices.Contains(pids, pid) {
			continue
		}
		ctx.Tracef("pidfd_send_signal(%d, SIGKILL): pid %d is left in %s", fd, pid, dir)
		if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pidfd_send_signal %d SIGKILL: %w", pid, err)
		}
	}
	return nil
}

// waitExit waits until each pidfd reports that its process has exited: a
// pidfd becomes readable then (pidfd_open(2)), so poll(2) waits without
// polling in a loop.
func waitExit(fds map[int]int) error {
	deadline := time.Now().Add(killTimeout)
	for pid, fd := range fds {
		for {
			left := time.Until(deadline)
			if left <= 0 {
				return fmt.Errorf("pid %d did not die within %v of SIGKILL", pid, killTimeout)
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("poll pidfd of %d: %w", pid, err)
			}
			if n > 0 {
				break
			}
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
