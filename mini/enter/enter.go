// Package enter starts a process inside a running container, what mini
// exec does: it joins the container's namespaces with setns(2), its cgroup,
// its user and working directory, then executes the command. Read it
// beside docs/exec.md.
package enter

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Target is the running container to enter.
type Target struct {
	PID   int // its init, as the host numbers it
	PidFD int // a pidfd of that process (pidfd_open(2)), checked to be it
	// Cgroup joins its cgroup: on v2 an O_PATH fd of the directory, for
	// clone3's CLONE_INTO_CGROUP; on v1 the tasks files, opened for writing.
	CgroupDir   int // -1 for none
	CgroupTasks []int
	// Security is what step 9 gave the container's init, for the new
	// process too: nil below step 9.
	Security *Security
}

// Security is step 9's part (steps/09-security), as numbers the child's
// raw system calls take: the same capabilities, no_new_privs and seccomp
// filter as the container's init, set in the same order (BeforeUser,
// BeforeExec there).
type Security struct {
	Caps            uint64 // bit n for capability n: the bounding, permitted and effective sets
	LastCap         int    // the highest capability this kernel has
	NoNewPrivileges bool
	Filter          []byte // the BPF program, struct sock_filter[]; nil for none
	FilterFlags     uint   // SECCOMP_FILTER_FLAG_*
}

// Process is what to run in it.
type Process struct {
	Args []string
	Env  []string
	Dir  string // working directory, inside the container
	User string // -u: name|uid[:group|gid], "" for the container's root
	// Stdio are the files the command gets as fds 0, 1 and 2. With
	// Terminal, Stdio[0] is the slave of a pseudo-terminal (all three are
	// it) and the command gets a session of its own with it as its
	// controlling terminal (OpenTerminal).
	Stdio    [3]*os.File
	Terminal bool
	// Tty makes the command a pseudo-terminal in the container's own
	// devpts (its /dev/ptmx), of window size Size: Stdio is then its slave,
	// and Started.Master its master.
	Tty  bool
	Size *unix.Winsize
	// Home sets HOME to the user's home directory, from the container's
	// /etc/passwd (docker exec does, unless -e sets HOME).
	Home bool
	// Groups, when not nil, are the supplementary groups, in place of
	// those /etc/group gives the user: an OCI process's gid and
	// additionalGids, as runc sets them.
	Groups []uint32
	// Trace, when not nil, prints each action.
	Trace func(format string, args ...any)
}

// Started is a process running in the container.
type Started struct {
	Pid    int
	PidFD  int      // from clone3's CLONE_PIDFD: signals go to this very process
	Master *os.File // with Tty: the master of its terminal
}

// Error is a failure to start the process, with the exit code mini exec
// returns: 126 or 127 when the command cannot be executed, as a shell's,
// 125 otherwise.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Start runs p in t. The joins happen on an OS thread of their own, which
// is never given back to other goroutines (runtime.LockOSThread): setns(2)
// changes the calling thread only, and this one is the container's from
// then on. It ends with the goroutine, once the child exists.
func Start(t Target, p *Process) (*Started, error) {
	type result struct {
		s   *Started
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // and never unlocked: the thread exits with us
		s, err := start(t, p)
		done <- result{s, err}
	}()
	r := <-done
	return r.s, r.err
}

func start(t Target, p *Process) (*Started, error) {
	trace := p.Trace
	if trace == nil {
		trace = func(string, ...any) {}
	}
	ns, err := namespaces(t.PID)
	if err != nil {
		return nil, err
	}
	userns, cgroupns, err := join(t, ns, trace)
	if err == nil {
		err = enterRoot(t.PID, ns, trace)
	}
	if err != nil {
		if userns >= 0 {
			unix.Close(userns)
		}
		if cgroupns >= 0 {
			unix.Close(cgroupns)
		}
		return nil, err
	}
	if userns >= 0 {
		defer unix.Close(userns)
	}
	if cgroupns >= 0 {
		defer unix.Close(cgroupns)
	}
	// From here on this thread's / is the container's (if it has a mount
	// namespace, or a chroot: enterRoot): the command, its user and its directory are looked up
	// there, as the container sees them.
	cred, err := lookupUser(p.User, t.PID)
	if err != nil {
		return nil, &Error{Code: 125, Err: err}
	}
	if p.Groups != nil {
		cred.groups = p.Groups
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return nil, err
	}
	var master *os.File
	if p.Tty {
		var slave *os.File
		if master, slave, err = openTerminal(t.PID, cred, p.Size, trace); err != nil {
			return nil, err
		}
		defer slave.Close()
		p.Stdio, p.Terminal = [3]*os.File{slave, slave, slave}, true
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer errR.Close()
	a, keep, err := prepare(t, p, path, cred, userns, cgroupns, int(errW.Fd()))
	if err != nil {
		errW.Close()
		return nil, err
	}
	call := "clone3(CLONE_PIDFD)"
	if t.CgroupDir >= 0 {
		call = "clone3(CLONE_PIDFD|CLONE_INTO_CGROUP)"
	}
	if cgroupns >= 0 {
		trace("%s: the child joins the cgroup namespace, once in the container's cgroup", call)
	}
	trace("%s: the child joins the user namespace, becomes uid %d gid %d, and execs %s", call, cred.uid, cred.gid, path)
	// ForkLock: no fd is being made without close-on-exec while we fork
	// (the rule syscall.ForkExec follows).
	syscall.ForkLock.Lock()
	pid, errno := forkExec(a)
	syscall.ForkLock.Unlock()
	runtime.KeepAlive(keep)
	errW.Close()
	if errno != 0 {
		if master != nil {
			master.Close()
		}
		return nil, fmt.Errorf("%s: %w%s", call, errno, cloneHint(errno))
	}
	s := &Started{Pid: pid, PidFD: int(a.pidFD), Master: master}
	// EOF on the error pipe (close-on-exec) says execve succeeded.
	var f failure
	n, _ := errR.Read((*[unsafe.Sizeof(f)]byte)(unsafe.Pointer(&f))[:])
	if n == 0 {
		return s, nil
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	unix.Close(s.PidFD)
	if master != nil {
		master.Close()
	}
	return nil, childError(f, path, p.Dir)
}

// cloneHint says why clone3 may have failed.
func cloneHint(e syscall.Errno) string {
	switch e {
	case unix.ENOSYS:
		return " (clone3 needs Linux 5.3, and CLONE_INTO_CGROUP 5.7: upgrade the kernel)"
	case unix.EAGAIN:
		return " (the container's pids.max is reached: --pids-limit)"
	}
	return ""
}

// childError turns what the child reported into an error: which call
// failed, on what, and the exit code.
func childError(f failure, path, dir string) error {
	e := syscall.Errno(f.errno)
	var what string
	switch f.step {
	case stepCgroup:
		what = "join the container's cgroup: write 0 to its tasks file"
	case stepSetnsUser:
		what = "setns CLONE_NEWUSER"
	case stepSetnsCgroup:
		what = "setns CLONE_NEWCGROUP"
	case stepSetgroups:
		what = "setgroups"
	case stepSetgid:
		what = "setresgid"
	case stepSetuid:
		what = "setresuid"
	case stepSetsid:
		what = "setsid"
	case stepCtty:
		what = "ioctl TIOCSCTTY"
	case stepDup:
		what = "dup3"
	case stepSeccomp:
		what = "seccomp(SECCOMP_SET_MODE_FILTER)"
	case stepCaps:
		what = "prctl or capset (the container's capabilities)"
	case stepChdir:
		return &Error{Code: 125, Err: fmt.Errorf("chdir %s: %w (the -w directory must exist in the container)", dir, e)}
	case stepExec:
		code := 126
		if errors.Is(e, unix.ENOENT) {
			code = 127
		}
		return &Error{Code: code, Err: fmt.Errorf("exec %s: %w", path, e)}
	default:
		what = fmt.Sprintf("step %d", f.step)
	}
	return &Error{Code: 125, Err: fmt.Errorf("%s: %w", what, e)}
}
