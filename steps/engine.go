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
// 127 when the command could not be executed. It is the engine's phases in
// a row (Engine); whatever was prepared is cleaned up, in reverse, however
// it ends.
func Run(spec *Spec, steps []Step, argv0 string, out io.Writer) (code int, err error) {
	e := NewEngine(spec, steps, argv0, out)
	defer func() {
		if cerr := e.Cleanup(); cerr != nil && err == nil {
			code, err = 125, cerr
		}
	}()
	if err := e.Validate(); err != nil {
		return 125, err
	}
	if err := e.Prepare(); err != nil {
		return 125, err
	}
	if err := e.Start(); err != nil {
		return 125, err
	}
	if err := e.Attach(); err != nil {
		return 125, err
	}
	if code, err := e.Release(); err != nil {
		return code, err
	}
	return e.Wait(), nil
}

// Engine is one container on its way through the phases step.go draws:
//
//	Validate  every step checks the spec; nothing is made yet
//	Prepare   steps make what the child needs (an address, a cgroup)
//	Start     the child is cloned in its namespaces, blocked on fd 3
//	Attach    steps finish on the host what needs the child (a veth)
//	Release   the spec goes to the child: its Init hooks run, then it
//	          executes the command (or, with Spec.WaitStart, it waits just
//	          before, until Exec)
//	Wait      the command exits
//	Cleanup   steps undo what they made, in reverse; also after a failure
//
// mini run calls them in a row (Run). mini create stops after Release with
// the container's init waiting before its command, and mini start calls
// Exec (mini/oci). A phase that fails leaves the rest to Cleanup.
type Engine struct {
	Spec  *Spec
	steps []Step
	argv0 string
	ctx   *Context
	sigs  chan os.Signal

	prepared []Step   // the steps whose Prepare was called: Cleanup's
	stdio    *stdio   // what the child gets as fds 0, 1 and 2
	child    *child   // nil until Start
	specW    *os.File // the host's end of the spec socket, until Release
	errR     *os.File // the error pipe: the child's failure, or EOF at exec
	msgs     *json.Decoder
	startW   *os.File // WaitStart: the pipe whose byte lets the child exec
}

// NewEngine returns the engine that runs spec with steps (in order), the
// child started as argv0, trace and notes going to out.
func NewEngine(spec *Spec, steps []Step, argv0 string, out io.Writer) *Engine {
	return &Engine{Spec: spec, steps: steps, argv0: argv0, ctx: NewContext(spec, "host", out)}
}

// Context is the engine's own context: Exited, Status and Started say how
// the container ended.
func (e *Engine) Context() *Context { return e.ctx }

// Pid is the container's init as the host numbers it, once Start made it.
func (e *Engine) Pid() int {
	if e.child == nil {
		return 0
	}
	return e.child.pid
}

// Validate runs every step's Validate: a bad flag fails with nothing to
// undo.
func (e *Engine) Validate() error {
	// The child's Pdeathsig fires when the thread that started it exits, not
	// the process (prctl(2) PR_SET_PDEATHSIG): keep this goroutine on one
	// thread for the container's whole life.
	runtime.LockOSThread()
	spec := e.Spec
	e.ctx.Tracef("run %s at step %d: %q", spec.ID, spec.Step, spec.Args)
	e.sigs = catchSignals()
	for _, s := range e.steps {
		if v, ok := s.(Validator); ok {
			if err := v.Validate(e.ctx.For(s)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Prepare makes --root if a step keeps something there, then runs every
// step's Prepare. A step is listed for Cleanup before its Prepare runs: one
// that fails half-way still gets its Cleanup.
func (e *Engine) Prepare() error {
	if hasPreparer(e.steps) {
		if err := MakeRoot(e.ctx, e.Spec.Root); err != nil {
			return err
		}
	}
	for _, s := range e.steps {
		e.prepared = append(e.prepared, s)
		if p, ok := s.(Preparer); ok {
			if err := p.Prepare(e.ctx.For(s)); err != nil {
				return fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err)
			}
		}
	}
	return nil
}

// Start clones the child, which waits on the spec socket (fd 3), and
// forwards to it the signals mini gets from now on.
func (e *Engine) Start() error {
	stdio, err := newStdio(e.ctx)
	if err != nil {
		return err
	}
	e.stdio = stdio
	var startR *os.File
	if e.Spec.WaitStart {
		// The start barrier: the child reads one byte of this pipe just
		// before its command (child.go).
		if startR, e.startW, err = os.Pipe(); err != nil {
			return fmt.Errorf("pipe: %w", err)
		}
		defer startR.Close()
	}
	child, specW, errR, err := startChild(e.ctx, e.steps, e.argv0, stdio, startR)
	// The child has its own copies of the files passed to it, or failed.
	e.ctx.childFiles.close()
	stdio.closeEnds()
	if err != nil {
		return err
	}
	e.child, e.specW, e.errR = child, specW, errR
	e.msgs = json.NewDecoder(errR)
	// Forward the signals a user sends to mini to the container's init
	// (caught from Validate on, see catchSignals).
	go func() {
		for sig := range e.sigs {
			_ = child.signal(sig.(unix.Signal))
		}
	}()
	return nil
}

// Attach runs every step's Attach while the child waits. If one fails the
// child is killed: it never ran a step's Init.
func (e *Engine) Attach() error {
	for _, s := range e.steps {
		if a, ok := s.(Attacher); ok {
			if err := a.Attach(e.ctx.For(s), e.child.pid); err != nil {
				e.kill()
				return fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err)
			}
		}
	}
	return nil
}

// Release sends the child the spec, as the steps left it, with the files
// steps sent it: its Init hooks run. It returns once the command runs, or
// with Spec.WaitStart once the child waits just before it; or with the
// code and error of a child that failed.
func (e *Engine) Release() (int, error) {
	sent := e.ctx.childFiles.sent
	if len(sent) > 0 {
		e.ctx.Tracef("sendmsg(fd %d, spec, SCM_RIGHTS: %d files): the child's init hooks start", specFD, len(sent))
	} else {
		e.ctx.Tracef("write spec to fd %d: the child's init hooks start", specFD)
	}
	data, err := json.Marshal(e.Spec)
	if err != nil {
		e.kill()
		return 125, fmt.Errorf("encode spec: %w", err)
	}
	if err := sendSpec(int(e.specW.Fd()), data, sent); err != nil {
		e.ctx.Tracef("write spec: %v (the child died early)", err)
	}
	e.specW.Close()
	e.specW = nil
	e.ctx.childFiles.closeSent()
	if !e.Spec.WaitStart {
		return e.started()
	}
	m, ok := e.message()
	if ok && m.Ready {
		e.ctx.Tracef("the child waits before its command: created")
		return 0, nil
	}
	return e.failed(m, ok)
}

// Exec lets a child that waits before its command (Spec.WaitStart) execute
// it, and returns once it runs, or with the code and error of one that
// could not.
func (e *Engine) Exec() (int, error) {
	e.ctx.Tracef("write(start pipe, 1 byte): the child executes the command")
	_, err := e.startW.Write([]byte{1})
	e.startW.Close()
	e.startW = nil
	if err != nil {
		e.reap()
		return 125, fmt.Errorf("the container's init is gone (%v)", err)
	}
	return e.started()
}

// started waits until the child either reports an init error on fd 4 or
// executes the command, which closes it; then the steps settle what they
// made for a run that could still have failed (Started hooks).
func (e *Engine) started() (int, error) {
	if m, ok := e.message(); ok {
		return e.failed(m, ok)
	}
	e.ctx.Started = true
	e.ctx.Init = Owner{PID: e.child.pid}
	if start, err := ProcessStart(e.child.pid); err == nil {
		e.ctx.Init.Start = start
	}
	for _, s := range e.steps {
		if st, ok := s.(Starter); ok {
			if err := st.Started(e.ctx.For(s)); err != nil {
				e.ctx.Notef("step %d (%s): %v", s.Number(), s.Name(), err)
			}
		}
	}
	if e.Spec.OnStart != nil {
		e.Spec.OnStart(e.child.pid)
	}
	return 0, nil
}

// message reads the child's next message on the error pipe; ok is false
// at EOF: the pipe is close-on-exec, so the child executed the command
// (or died).
func (e *Engine) message() (m childError, ok bool) {
	err := e.msgs.Decode(&m)
	if errors.Is(err, io.EOF) {
		return m, false
	}
	if err != nil {
		rest, _ := io.ReadAll(e.msgs.Buffered())
		return childError{Code: 125, Msg: fmt.Sprintf("the child's message: %v %s", err, rest)}, true
	}
	return m, true
}

// failed reaps a child that reported m (or, !ok, that died without a word)
// and returns its code and error.
func (e *Engine) failed(m childError, ok bool) (int, error) {
	e.reap()
	if !ok || m.Msg == "" {
		return 125, fmt.Errorf("the container's init exited before its command ran (%s)", describe(e.ctx.Status))
	}
	return m.Code, errors.New(m.Msg)
}

// Wait waits for the command to exit and returns mini's exit code for it.
func (e *Engine) Wait() int {
	e.reap()
	code := ExitCode(e.ctx.Status)
	e.ctx.Tracef("container exited: %s -> exit code %d", describe(e.ctx.Status), code)
	return code
}

// Cleanup kills a child still there (a run that failed half-way), waits for
// the last of its output, then runs the Cleanup hooks of every prepared
// step, in reverse. It returns the first error.
func (e *Engine) Cleanup() error {
	e.ctx.childFiles.close()
	e.ctx.childFiles.closeSent()
	for _, f := range []**os.File{&e.specW, &e.errR, &e.startW} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	if e.child != nil && !e.child.isReaped() {
		e.kill()
	}
	if e.stdio != nil {
		e.stdio.wait() // the output is all out before the steps clean up
	}
	err := Cleanup(e.ctx, e.prepared)
	e.prepared = nil
	return err
}

// kill kills the child and reaps it.
func (e *Engine) kill() {
	_ = e.child.signal(unix.SIGKILL)
	e.reap()
}

// reap waits for the child, kills nothing, and records how it ended.
func (e *Engine) reap() {
	if e.child.isReaped() {
		return
	}
	if ws, err := e.child.wait(); err == nil {
		e.ctx.Exited, e.ctx.Status = true, ws
	}
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

func (c *child) isReaped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reaped
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
// end of the spec pipe and the read end of the error pipe. startR, if not
// nil, is the start barrier's pipe (Spec.WaitStart): the child gets it
// after the passed files.
func startChild(ctx *Context, steps []Step, argv0 string, stdio *stdio, startR *os.File) (*child, *os.File, *os.File, error) {
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
	if startR != nil {
		ctx.Spec.StartFD = len(files)
		files = append(files, startR.Fd())
	}
	if bornElsewhere() {
		// Born in a PID namespace this thread joined (steps.JoinNS), the
		// child sees no parent: getppid(2) says 0. Go's ForkExec takes that
		// for a parent already dead and kills the child with Pdeathsig at
		// once. The child sets it itself anyway, first thing (Init).
		attr.Pdeathsig = 0
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

// bornElsewhere says whether this thread's children are born in another
// PID namespace than its own (/proc/thread-self/ns/pid_for_children).
func bornElsewhere() bool {
	own, err1 := os.Readlink("/proc/thread-self/ns/pid")
	children, err2 := os.Readlink("/proc/thread-self/ns/pid_for_children")
	return err1 == nil && err2 == nil && own != children
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
