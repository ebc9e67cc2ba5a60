//go:build linux && (amd64 || arm64)

package enter

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The new process is made by a fork written here, and not by
// syscall.ForkExec, because it must join the container's user namespace
// between fork and execve, and setns(2) refuses CLONE_NEWUSER to a process
// with more than one thread (EINVAL): a Go program has several before main
// runs. The child of a fork has one thread, the one that forked; that
// thread may join it. Go's ForkExec has no such step, so this file is a
// small ForkExec of its own, made safe the way Go's is (docs/exec.md):
//
//   - The child runs only raw system calls (syscall.RawSyscall), in
//     functions marked go:nosplit: it never enters the Go runtime, never
//     allocates, never checks or grows its stack (a runtime copied from a
//     parent with other threads must not run in a process that has one).
//   - Every signal is blocked across the fork, so no Go signal handler
//     runs in the child; the child resets every handler to the default
//     before it unblocks signals, then execs.
//   - It writes no pointer (no write barrier can run), only reads what the
//     parent prepared in childArgs.

// cloneArgs is struct clone_args of clone3(2), Linux 5.3.
type cloneArgs struct {
	flags      uint64
	pidFD      uint64 // int *: where the kernel stores the pidfd
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
	cgroup     uint64 // the cgroup v2 directory's fd, with CLONE_INTO_CGROUP (5.7)
}

// sigaction is the kernel's struct sigaction on amd64 and arm64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	sigDFL = 0
	sigIGN = 1
)

// What failed in the child, reported on the error pipe with its errno.
const (
	stepCgroup = iota + 1
	stepSetnsCgroup
	stepSetnsUser
	stepSetgroups
	stepSetgid
	stepSetuid
	stepSetsid
	stepCtty
	stepDup
	stepChdir
	stepExec
	stepSeccomp
	stepCaps
)

// maxTasks is the most cgroup v1 hierarchies a container is in (step 7
// makes four).
const maxTasks = 8

// childArgs is everything the child needs, prepared by the parent: C
// strings and arrays, file descriptors, numbers.
type childArgs struct {
	path  *byte  // the command, as execve(2) takes it
	argv  **byte // NULL-terminated
	envv  **byte
	dir   *byte
	clone cloneArgs
	pidFD int32 // set by clone3 in the parent

	userns     int // fd to setns(2) into with CLONE_NEWUSER; -1 for none
	cgroupns   int // likewise CLONE_NEWCGROUP, once born in the cgroup (join.go)
	setgroups  bool
	groups     *uint32
	ngroups    int
	uid, gid   int
	tasks      [maxTasks]int // cgroup v1 tasks files: write "0" to join
	ntasks     int
	stdio      [3]int // what becomes fds 0, 1 and 2
	terminal   bool   // stdio is a terminal: a session of its own, and its controlling terminal
	errPipe    int
	zero       [1]byte // "0"
	all, none  uint64  // signal sets
	defaultAct sigaction

	// Step 9 (Target.Security): secure says to apply it.
	secure      bool
	keep        uint64 // capabilities kept
	lastCap     int
	nnp         bool
	filter      unix.SockFprog // Len 0: no filter
	filterFlags uintptr
	capHeader   unix.CapUserHeader
	capData     [2]unix.CapUserData
}

// failure is what the child writes on the error pipe.
type failure struct {
	step  uint32
	errno uint32
}

// forkExec forks, the child joins and execs; the parent gets the child's
// pid (and its pidfd in a.pidFD). Signals are blocked on this thread from
// just before clone3 to just after, in both processes.
//
//go:nosplit
//go:norace
func forkExec(a *childArgs) (int, syscall.Errno) {
	var saved uint64
	if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&a.all)), uintptr(unsafe.Pointer(&saved)), 8, 0, 0); e != 0 {
		return 0, e
	}
	r, _, e := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&a.clone)), unsafe.Sizeof(a.clone), 0)
	if r != 0 || e != 0 {
		// The parent (or clone3 failed): signals back as they were.
		syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&saved)), 0, 8, 0, 0)
		return int(r), e
	}
	a.child() // does not return
	return 0, 0
}

// child runs in the new process, single-threaded.
//
//go:nosplit
//go:norace
func (a *childArgs) child() {
	var e syscall.Errno
	// cgroup v1: "0" moves the writer, this whole process now (procs.go in
	// steps/07-cgroups).
	for i := 0; i < a.ntasks && i < maxTasks; i++ {
		if _, _, e = syscall.RawSyscall(unix.SYS_WRITE, uintptr(a.tasks[i]), uintptr(unsafe.Pointer(&a.zero[0])), 1); e != 0 {
			a.fail(stepCgroup, e)
		}
	}
	// Born in the container's cgroup v2: its cgroup namespace now.
	if a.cgroupns >= 0 {
		if _, _, e = syscall.RawSyscall(unix.SYS_SETNS, uintptr(a.cgroupns), unix.CLONE_NEWCGROUP, 0); e != 0 {
			a.fail(stepSetnsCgroup, e)
		}
	}
	// The user namespace last, while this process still has the host's
	// privileges (docs/exec.md).
	if a.userns >= 0 {
		if _, _, e = syscall.RawSyscall(unix.SYS_SETNS, uintptr(a.userns), unix.CLONE_NEWUSER, 0); e != 0 {
			a.fail(stepSetnsUser, e)
		}
	}
	// Step 9's first part, as the container's root (steps/09-security,
	// BeforeUser): the filter now if there is no no_new_privs (seccomp(2)
	// then needs CAP_SYS_ADMIN, which the root of the namespace still has),
	// the bounding set cut, and the permitted set kept across setuid.
	if a.secure {
		if a.filter.Len > 0 && !a.nnp {
			if _, _, e = syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, a.filterFlags, uintptr(unsafe.Pointer(&a.filter))); e != 0 {
				a.fail(stepSeccomp, e)
			}
		}
		for nr := 0; nr <= a.lastCap && nr < 64; nr++ {
			if a.keep&(1<<uint(nr)) == 0 {
				if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(nr), 0, 0, 0, 0); e != 0 {
					a.fail(stepCaps, e)
				}
			}
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0, 0, 0, 0); e != 0 {
			a.fail(stepCaps, e)
		}
	}
	if a.setgroups {
		if _, _, e = syscall.RawSyscall(unix.SYS_SETGROUPS, uintptr(a.ngroups), uintptr(unsafe.Pointer(a.groups)), 0); e != 0 {
			a.fail(stepSetgroups, e)
		}
	}
	if _, _, e = syscall.RawSyscall(unix.SYS_SETRESGID, uintptr(a.gid), uintptr(a.gid), uintptr(a.gid)); e != 0 {
		a.fail(stepSetgid, e)
	}
	if _, _, e = syscall.RawSyscall(unix.SYS_SETRESUID, uintptr(a.uid), uintptr(a.uid), uintptr(a.uid)); e != 0 {
		a.fail(stepSetuid, e)
	}
	// A session of its own: no terminal of the caller's is its controlling
	// terminal, so none of its signals (^C, a hangup) reaches it but
	// through mini exec; with -t, the container's pseudo-terminal is.
	if _, _, e = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
		a.fail(stepSetsid, e)
	}
	if a.terminal {
		if _, _, e = syscall.RawSyscall(unix.SYS_IOCTL, uintptr(a.stdio[0]), unix.TIOCSCTTY, 0); e != 0 {
			a.fail(stepCtty, e)
		}
	}
	for fd := 0; fd < 3; fd++ {
		if a.stdio[fd] == fd {
			// Ours already, and not close-on-exec: nothing to do.
			continue
		}
		if _, _, e = syscall.RawSyscall(unix.SYS_DUP3, uintptr(a.stdio[fd]), uintptr(fd), 0); e != 0 {
			a.fail(stepDup, e)
		}
	}
	if _, _, e = syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(a.dir)), 0, 0); e != 0 {
		a.fail(stepChdir, e)
	}
	// Only fds 0, 1 and 2 go on (close_range(2), 5.11; before it, every
	// other fd of mini is close-on-exec already).
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC)
	// Step 9's last part (BeforeExec): the final capability sets, the
	// ambient set emptied, then no_new_privs and the filter, if asked.
	if a.secure {
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0, 0, 0, 0)
		if _, _, e = syscall.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&a.capHeader)), uintptr(unsafe.Pointer(&a.capData[0])), 0); e != 0 {
			a.fail(stepCaps, e)
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
			a.fail(stepCaps, e)
		}
		if a.nnp {
			if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
				a.fail(stepCaps, e)
			}
			if a.filter.Len > 0 {
				if _, _, e = syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, a.filterFlags, uintptr(unsafe.Pointer(&a.filter))); e != 0 {
					a.fail(stepSeccomp, e)
				}
			}
		}
	}
	// Go's handlers must not run here: every signal it handles goes back
	// to the default, then the mask is emptied for the command.
	for sig := uintptr(1); sig < 65; sig++ {
		if sig == uintptr(unix.SIGKILL) || sig == uintptr(unix.SIGSTOP) {
			continue
		}
		var old sigaction
		syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if old.handler != sigIGN && old.handler != sigDFL {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&a.defaultAct)), 0, 8, 0, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&a.none)), 0, 8, 0, 0)
	_, _, e = syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.path)), uintptr(unsafe.Pointer(a.argv)), uintptr(unsafe.Pointer(a.envv)))
	a.fail(stepExec, e)
}

// fail reports step and errno on the error pipe and exits the child.
//
//go:nosplit
//go:norace
func (a *childArgs) fail(step uint32, e syscall.Errno) {
	f := failure{step: step, errno: uint32(e)}
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(a.errPipe), uintptr(unsafe.Pointer(&f)), unsafe.Sizeof(f))
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
}
