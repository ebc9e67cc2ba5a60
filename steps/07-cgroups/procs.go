package cgroups

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

// How the child gets into its cgroup. The textbook way, and what the lab
// has you write, is the host writing the child's pid to cgroup.procs while
// the child waits (Attach). That moves a whole process, and to do that the
// kernel first stops every fork, exit and exec on the machine: it takes
// cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period,
// 10 to 25 ms here, more than all the rest of a run (docs/performance.md).
// mini asks for what needs no such lock:
//
//   - cgroup v2: the child is born in the cgroup. The host opens the
//     directory and clone3(2) takes it with CLONE_INTO_CGROUP (Linux 5.7).
//   - cgroup v1 has no such flag, but a thread may move itself: writing "0"
//     to a hierarchy's "tasks" file moves only the writer, and the kernel
//     skips the global lock for it. The host opens the tasks files (only
//     host root may) and passes them to the child, whose Init writes "0"
//     to each from the thread that then execs the command; execve(2)
//     leaves that thread alone in the process, so from the command's first
//     instruction the whole process is in the cgroup.

// enter (v2): open the container's cgroup directory for clone3's
// CLONE_INTO_CGROUP. O_PATH is enough: it names the directory, it does not
// read it.
func (d *v2) enter(ctx *steps.Context) error {
	ctx.Tracef("open(%q, O_PATH|O_DIRECTORY): the child is born in it, clone3(CLONE_INTO_CGROUP)", d.dir)
	fd, err := unix.Open(d.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", d.dir, err)
	}
	ctx.CloneIntoCgroup(os.NewFile(uintptr(fd), d.dir))
	return nil
}

// enter (v1): open each hierarchy's tasks file and pass it to the child,
// which joins with it in Init (joinSelf).
func (d *v1) enter(ctx *steps.Context) error {
	for _, dir := range d.dirs() {
		path := filepath.Join(dir, "tasks")
		tasks, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		fd := ctx.PassFile(os.NewFile(uintptr(tasks), path))
		ctx.Tracef("open(%q, O_WRONLY): fd %d in the child, which joins with it", path, fd)
		ctx.Spec.CgroupTasks = append(ctx.Spec.CgroupTasks, steps.PassedFile{FD: fd, Path: path})
	}
	return nil
}

// joinSelf runs in the child (v1): "echo 0 > tasks" in each hierarchy moves
// the calling thread, the one that execs the command, into the cgroup.
func joinSelf(ctx *steps.Context) error {
	for _, t := range ctx.Spec.CgroupTasks {
		ctx.Tracef("write(%d, \"0\"): this thread joins %s", t.FD, t.Path)
		_, err := unix.Write(t.FD, []byte("0"))
		unix.Close(t.FD)
		if err != nil {
			return fmt.Errorf("write 0 to %s: %w", t.Path, err)
		}
	}
	return nil
}

// readProcs lists the pids in a cgroup. A cgroup that is not there (a
// Prepare that stopped early, a reclaim that raced another) holds none.
func readProcs(dir string) ([]int, error) {
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

// empty kills every process in the cgroup and waits until they are gone, so
// the cgroup can be removed. Normally there are none left by now: when the
// container's init (PID 1 of its PID namespace) exits, the kernel kills the
// rest of the namespace before mini's wait returns (pid_namespaces(7)).
// This is for what escaped that: processes moved in from outside, a run
// whose mini was killed before its child.
func empty(ctx *steps.Context, dir string) error {
	for round := 0; round < 100; round++ {
		pids, err := readProcs(dir)
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
		still, err := readProcs(dir)
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
	if Exists(dir, "cgroup.kill") {
		return Write(ctx, dir, "cgroup.kill", "1")
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

// remove removes an empty cgroup with rmdir(2): its files are the kernel's,
// not files to delete one by one. A cgroup already gone is fine.
func remove(ctx *steps.Context, dir string) error {
	ctx.Tracef("rmdir(%q)", dir)
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("rmdir %s: %w", dir, err)
	}
	return nil
}
