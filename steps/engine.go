package steps

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// InitArg is the hidden first argument that makes mini the container's init:
// the host runs "/proc/self/exe init" and Init takes over in the child.
const InitArg = "init"

// The child inherits two channels. fd 3 is a unix socket that carries the
// spec, and any files steps send the child (barrier.go); the child blocks
// reading it, and the host writes it only once every step has attached, so
// the read is also the sync barrier. fd 4 is a pipe that carries an init
// error back; it is close-on-exec in the child, so EOF on the host means
// exec succeeded.
const (
	specFD  = 3
	errorFD = 4
	// Files a step passes to the child (Context.PassFile) come next.
	firstPassedFD = 5
)

// Run runs the container: steps are steps 1..spec.Step, in order. It returns
// the code mini exits with: the command's own status, 128+n if a signal
// killed it, or (with a non-nil error) 125 for mini's own failure and 126 or
// 127 when the command could not be executed.
func Run(spec *Spec, steps []Step, argv0 string, out io.Writer) (code int, err error) {
	// The child's Pdeathsig fires when the thread that started it exits, not
	// the process (prctl(2) PR_SET_PDEATHSIG): keep this goroutine on one
	// thread for the container's whole life.
	runtime.LockOSThread()

	ctx := NewContext(spec, "host", out)
	ctx.Tracef("run %s at step %d: %q", spec.ID, spec.Step, spec.Args)
	sigs := catchSignals()

	for _, s := range steps {
		if v, ok := s.(Validator); ok {
			if err := v.Validate(ctx.For(s)); err != nil {
				return 125, err
			}
		}
	}

	// Steps that prepare something keep it under --root.
	if hasPreparer(steps) {
		if err := MakeRoot(ctx, spec.Root); err != nil {
			return 125, err
		}
	}

	// Whatever has been prepared is cleaned up, in reverse, however we leave.
	var started []Step
	defer func() {
		if cerr := Cleanup(ctx, started); cerr != nil && err == nil {
			code, err = 125, cerr
		}
	}()
	defer ctx.childFiles.close() // a run that fails before the child starts
	for _, s := range steps {
		// Listed before Prepare runs: a Prepare that fails half-way still
		// gets its Cleanup.
		started = append(started, s)
		if p, ok := s.(Preparer); ok {
			if err := p.Prepare(ctx.For(s)); err != nil {
				return 125, fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err)
			}
		}
	}

	stdio, err := newStdio(ctx)
	if err != nil {
		return 125, err
	}
	defer stdio.wait() // runs before the deferred Cleanup: the output is all out first
	child, specW, errR, err := startChild(ctx, steps, argv0, stdio)
	// The child has its own copies of the files passed to it, or failed.
	ctx.childFiles.close()
	stdio.closeEnds()
	if err != nil {
		return 125, err
	}
	defer errR.Close()
	defer ctx.childFiles.closeSent()
	// Forward the signals a user sends to mini to the container's init
	// (caught from the start of Run, see catchSignals).
	go func() {
		for sig := range sigs {
			_ = child.signal(sig.(unix.Signal))
		}
	}()

	// reap kills nothing: it waits for the child and records how it ended.
	reap := func() {
		if ws, err := child.wait(); err == nil {
			ctx.Exited, ctx.Status = true, ws
		}
	}

	for _, s := range steps {
		if a, ok := s.(Attacher); ok {
			if err := a.Attach(ctx.For(s), child.pid); err != nil {
				specW.Close()
				_ = child.signal(unix.SIGKILL)
				reap()
				return 125, fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err)
			}
		}
	}

	// Release the barrier: the spec, as the steps left it, goes to the
	// child, with the files steps sent it.
	sent := ctx.childFiles.sent
	if len(sent) > 0 {
		ctx.Tracef("sendmsg(fd %d, spec, SCM_RIGHTS: %d files): the child's init hooks start", specFD, len(sent))
	} else {
		ctx.Tracef("write spec to fd %d: the child's init hooks start", specFD)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return 125, fmt.Errorf("encode spec: %w", err)
	}
	if err := sendSpec(int(specW.Fd()), data, sent); err != nil {
		ctx.Tracef("write spec: %v (the child died early)", err)
	}
	specW.Close()
	ctx.childFiles.closeSent()

	// Either the child reports an init error on fd 4, or exec closes it.
	var failure childError
	msg, _ := io.ReadAll(errR)
	if len(msg) > 0 {
		if jerr := json.Unmarshal(msg, &failure); jerr != nil {
			failure = childError{Code: 125, Msg: string(msg)}
		}
	}
	if failure.Msg != "" {
		reap()
		return failure.Code, errors.New(failure.Msg)
	}
	// The command runs: steps settle what they made for a run that might
	// have failed before it.
	ctx.Started = true
	for _, s := range steps {
		if st, ok := s.(Starter); ok {
			if err := st.Started(ctx.For(s)); err != nil {
				ctx.Notef("step %d (%s): %v", s.Number(), s.Name(), err)
			}
		}
	}
	if spec.OnStart != nil {
		spec.OnStart(child.pid)
	}
	reap()
	code = ExitCode(ctx.Status)
	ctx.Tracef("container exited: %s -> exit code %d", describe(ctx.Status), code)
	return code, nil
}

// catchSignals starts catching the signals mini forwards to the container's
// init, so that a Ctrl-C reaches the container and mini still cleans up.
// signal.Notify returns only once the Go runtime's signal thread has
// updated its mask, a round trip between threads for each signal, most of a
// millisecond in all: it runs in the background, while the steps validate
// and prepare (docs/performance.md). A signal that comes before the child
// exists waits in the channel and is forwarded to it. Nothing stops catching
// them (signal.Stop costs as many round trips): mini exits when Run returns.
func catchSignals() chan os.Signal {
	sigs := make(chan os.Signal, 4)
	go signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	return sigs
}

// MakeRoot makes the state directory, if it is not there, mode 0700
// whatever the umask: it holds every container's layers, and nobody else
// has any business in it. mini acts on what it finds there (leases, cgroup
// records, layers to reclaim), so it refuses one that another user owns or
// could write: they could plant records that make mini kill, remove or
// delete what is not its own. runc checks its --root the same way.
func MakeRoot(ctx *Context, root string) error {
	fi, err := os.Stat(root)
	if errors.Is(err, os.ErrNotExist) {
		ctx.Tracef("mkdir(%q, 0700)", root)
		err = os.MkdirAll(root, 0o700)
		if err == nil {
			err = os.Chmod(root, 0o700)
		}
		if err != nil {
			return StateError(err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("--root %s: %w", root, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("--root %s is not a directory: give mini a directory of its own", root)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("--root %s belongs to uid %d, not to uid %d that runs mini: mini trusts what it finds there, so give it a directory of its own (or chown it)", root, st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("--root %s is writable by other users (mode %#o): mini trusts what it finds there; chmod 700 %s", root, fi.Mode().Perm(), root)
	case fi.Mode().Perm() != 0o700:
		ctx.Tracef("chmod(%q, 0700): only mini may look inside", root)
		if err := os.Chmod(root, 0o700); err != nil {
			return fmt.Errorf("--root %s: %w", root, err)
		}
	}
	return nil
}

func hasPreparer(steps []Step) bool {
	for _, s := range steps {
		if _, ok := s.(Preparer); ok {
			return true
		}
	}
	return false
}

// child is the container's init as the host holds it: its pid, and a pidfd
// (CLONE_PIDFD, pidfd_open(2)) that names this very process, so that a
// signal forwarded at the last moment cannot reach another process that
// reused the pid number after the child was reaped.
type child struct {
	pid    int
	mu     sync.Mutex // guards the rest: signal and wait run in two goroutines
	pidfd  int        // -1 without one: a kernel before 5.2 leaves it unset
	reaped bool
}

// signal forwards sig with pidfd_send_signal(2); after the child is reaped it
// does nothing. Without a pidfd it falls back to kill(2).
func (c *child) signal(sig unix.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.reaped:
		return nil
	case c.pidfd >= 0:
		return unix.PidfdSendSignal(c.pidfd, sig, nil, 0)
	default:
		return unix.Kill(c.pid, sig)
	}
}

// wait reaps the child with wait4(2) and returns how it ended.
func (c *child) wait() (ws syscall.WaitStatus, err error) {
	for {
		_, err = syscall.Wait4(c.pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	c.mu.Lock()
	c.reaped = true
	if c.pidfd >= 0 {
		syscall.Close(c.pidfd)
	}
	c.mu.Unlock()
	return ws, err
}

// startChild re-executes mini as "argv0 init" in new namespaces, blocked on
// the spec pipe. syscall.ForkExec is the two system calls themselves: clone(2)
// (clone3(2) when the child is born in a cgroup) with the steps' flags, then,
// in the child, execve(2) of /proc/self/exe. It returns the child, the write
// end of the spec pipe and the read end of the error pipe.
func startChild(ctx *Context, steps []Step, argv0 string, stdio *stdio) (*child, *os.File, *os.File, error) {
	ch := &child{pidfd: -1}
	attr := &syscall.SysProcAttr{
		// The container dies with mini, even if mini is SIGKILLed.
		Pdeathsig: syscall.SIGKILL,
		// clone returns a pidfd for the child too (see child).
		PidFD: &ch.pidfd,
	}
	for _, s := range steps {
		if c, ok := s.(Cloner); ok {
			attr.Cloneflags |= c.CloneFlags(ctx.For(s))
		}
		if m, ok := s.(IDMapper); ok {
			uids, gids, setgroups := m.IDMaps(ctx.For(s))
			attr.UidMappings, attr.GidMappings = uids, gids
			attr.GidMappingsEnableSetgroups = setgroups
			// Become the new namespace's root before exec: execve(2)
			// recomputes capabilities, and only uid 0 of the namespace keeps
			// them (user_namespaces(7), "Capabilities"). Supplementary
			// groups are dropped where setgroups(2) is allowed.
			attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: !setgroups}
		}
	}

	specR, specW, err := socketPair()
	if err != nil {
		return nil, nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return nil, nil, nil, fmt.Errorf("pipe: %w", err)
	}
	// The child's fds: 0, 1 and 2 (mini's own, or pipes standing in for a
	// terminal), then fd 3, fd 4 and the passed files. Every other fd of
	// mini is close-on-exec.
	files := []uintptr{stdio.fds[0], stdio.fds[1], stdio.fds[2], specR.Fd(), errW.Fd()}
	for _, f := range ctx.childFiles.extra {
		files = append(files, f.Fd())
	}
	call := "clone"
	if dir := ctx.childFiles.cgroup; dir != nil {
		// Go then creates the child with clone3(2) rather than clone(2).
		attr.UseCgroupFD, attr.CgroupFD = true, int(dir.Fd())
		call = "clone3"
	}
	ctx.Tracef("%s(%s) /proc/self/exe %s", call, cloneNames(attr.Cloneflags, attr.UseCgroupFD), InitArg)
	ch.pid, err = syscall.ForkExec("/proc/self/exe", []string{argv0, InitArg}, &syscall.ProcAttr{
		Env:   []string{}, // the command's environment travels in the spec
		Files: files,
		Sys:   attr,
	})
	// The child has its own copies; the host keeps only its ends.
	specR.Close()
	errW.Close()
	if err != nil {
		specW.Close()
		errR.Close()
		// ForkExec's error is clone's or, from the child, execve's.
		return nil, nil, nil, fmt.Errorf("%s + execve /proc/self/exe: %w%s", call, err, cloneHint(err, attr.UseCgroupFD))
	}
	ctx.Tracef("child pid %d waits on fd %d", ch.pid, specFD)
	return ch, specW, errR, nil
}

// socketPair is the barrier's socket (barrier.go): the child's end, then
// the host's, both close-on-exec (the child gets its end as fd 3 by dup2,
// which clears the flag).
func socketPair() (child, host *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "spec socket"), os.NewFile(uintptr(fds[1]), "spec socket"), nil
}

// cloneHint says what to do when clone(2) or execve(2) is refused.
func cloneHint(err error, intoCgroup bool) string {
	if errors.Is(err, unix.ENOENT) {
		return " (mini runs itself again as /proc/self/exe: mount /proc, see docs/troubleshooting.md)"
	}
	if intoCgroup && (errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.E2BIG) || errors.Is(err, unix.EINVAL)) {
		return " (clone3 with CLONE_INTO_CGROUP needs Linux 5.7 or later: upgrade the kernel)"
	}
	if errors.Is(err, unix.EPERM) {
		return " (creating namespaces needs root: run with sudo, or see docs/05-user.md for rootless runs)"
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EUSERS) {
		return " (a namespace limit in /proc/sys/user/ is reached)"
	}
	return ""
}

// ExitCode maps a wait status to docker's exit codes: the command's own
// status, or 128+n when signal n killed it.
func ExitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}
