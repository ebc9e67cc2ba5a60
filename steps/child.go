package steps

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// childError is what the child sends back on fd 4 when it cannot reach exec;
// or, with Spec.WaitStart, Ready once it waits before the command.
type childError struct {
	Code  int    `json:"code"`
	Msg   string `json:"msg"`
	Ready bool   `json:"ready,omitempty"`
}

// Init is the child side, "mini init": it runs inside the new namespaces,
// waits for the spec on fd 3, runs each step's Init in order and executes the
// command. It returns only on failure, with the exit code for the child.
// recipe returns the steps a spec runs, in order: the same function the host
// side used to pick the steps it passed to Run, so both sides agree.
func Init(recipe func(spec *Spec) []Step) int {
	// Some namespace calls (unshare(CLONE_NEWCGROUP), setns) change only the
	// calling thread; exec must then happen on that same thread.
	runtime.LockOSThread()

	errPipe := os.NewFile(errorFD, "error pipe")
	// Close fd 4 on exec: the host then reads EOF and knows exec succeeded.
	unix.CloseOnExec(errorFD)
	fail := func(code int, err error) int {
		msg, _ := json.Marshal(childError{Code: code, Msg: err.Error()})
		_, _ = errPipe.Write(msg)
		return code
	}

	// The container must die with mini. clone set the parent-death signal
	// (Pdeathsig) on the child's first thread, but the kernel keeps it per
	// thread and gives threads made later none (prctl(2)), and the Go
	// runtime may run us on one of those: execve(2) from it would keep its
	// empty setting, and a SIGKILLed mini would leave the container running.
	// Set it again on the thread that will exec. Until then the first thread
	// still has it, and a signal to it kills the whole process.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fail(125, fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err))
	}

	// A session of its own: the container has no controlling terminal, and
	// none of the caller's can become one (the engine never hands it one
	// either, see stdio.go). Without it, a program in the image could push
	// keystrokes into the caller's shell (ioctl TIOCSTI, tty_ioctl(4)).
	if _, err := unix.Setsid(); err != nil {
		return fail(125, fmt.Errorf("setsid: %w", err))
	}

	// The barrier: this read returns once the host has attached everything
	// and written the spec, with any files the steps sent.
	data, received, err := receiveSpec(specFD)
	unix.Close(specFD)
	if err != nil {
		return fail(125, fmt.Errorf("read spec from fd %d: %w", specFD, err))
	}
	if len(data) == 0 {
		return 125 // the host gave up before releasing us; it reports why
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fail(125, fmt.Errorf("decode spec: %w", err))
	}
	ctx := NewContext(&spec, "child", os.Stderr)
	ctx.received = received
	ctx.Tracef("setsid(): a session of its own, with no controlling terminal")
	if len(received) > 0 {
		ctx.Tracef("recvmsg(fd %d): the spec and %d files: released by the host", specFD, len(received))
	} else {
		ctx.Tracef("read spec from fd %d: released by the host", specFD)
	}

	active := recipe(&spec)
	for _, s := range active {
		if _, ok := s.(RootfsMounter); ok {
			ctx.rootfsMounters = append(ctx.rootfsMounters, s)
		}
	}
	for _, s := range active {
		if i, ok := s.(Initer); ok {
			if err := i.Init(ctx.For(s)); err != nil {
				return fail(125, fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err))
			}
		}
	}
	if err := makeWorkdir(ctx); err != nil {
		return fail(125, err)
	}
	if spec.WaitStart {
		if code, err := waitStart(ctx, errPipe); err != nil {
			return fail(code, err)
		}
	}
	// --user, with step 9's hooks around it: see PreUserer and PreExecer.
	for _, s := range active {
		if h, ok := s.(PreUserer); ok {
			if err := h.PreUser(ctx.For(s)); err != nil {
				return fail(125, fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err))
			}
		}
	}
	if err := SwitchUser(ctx); err != nil {
		return fail(125, err)
	}

	if err := workdir(ctx); err != nil {
		return fail(125, err)
	}
	path, err := lookPath(spec.Args[0], spec.Env)
	if err != nil {
		return fail(execCode(err), err)
	}
	// The command gets fds 0, 1 and 2 and no other, as docker's does. mini
	// may have inherited more from whatever started it (a shell's, a CI
	// runner's) without close-on-exec, and they would reach the container.
	ctx.Tracef("close_range(3, ~0, CLOSE_RANGE_CLOEXEC): the command gets fds 0, 1 and 2 only")
	if err := closeOnExecFrom(3); err != nil {
		return fail(125, err)
	}
	for _, s := range active {
		if h, ok := s.(PreExecer); ok {
			if err := h.PreExec(ctx.For(s)); err != nil {
				return fail(125, fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err))
			}
		}
	}
	if spec.Init {
		return execInit(ctx, path, fail)
	}
	ctx.Tracef("execve(%q, %q)", path, spec.Args)
	err = unix.Exec(path, spec.Args, spec.Env)
	return fail(execCode(err), fmt.Errorf("exec %s: %w", spec.Args[0], err))
}

// waitStart is the start barrier of a container made by mini create: its
// environment is ready (every step's Init has run), so the child says so on
// fd 4 and waits for mini start's byte on Spec.StartFD, as runc's init
// waits on its exec.fifo. A command that is not there fails now, at create,
// as runc's does. EOF means the mini that holds the container gave up.
func waitStart(ctx *Context, errPipe *os.File) (int, error) {
	if _, err := lookPath(ctx.Spec.Args[0], ctx.Spec.Env); err != nil {
		return execCode(err), err
	}
	msg, _ := json.Marshal(childError{Ready: true})
	if _, err := errPipe.Write(msg); err != nil {
		return 125, fmt.Errorf("write to fd %d: %w", errorFD, err)
	}
	ctx.Tracef("read(fd %d): created; waits for mini start", ctx.Spec.StartFD)
	b := make([]byte, 1)
	n, err := unix.Read(ctx.Spec.StartFD, b)
	unix.Close(ctx.Spec.StartFD)
	if n != 1 {
		return 125, fmt.Errorf("read the start barrier: %d bytes, %v: the mini that held the container is gone", n, err)
	}
	// From now on the container outlives the mini that holds it: an OCI
	// runtime's container is its caller's (containerd's shim, conmon), which
	// reaps it as the subreaper it is (prctl(2), PR_SET_CHILD_SUBREAPER).
	ctx.Tracef("prctl(PR_SET_PDEATHSIG, 0): started; the container outlives mini")
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return 125, fmt.Errorf("prctl(PR_SET_PDEATHSIG, 0): %w", err)
	}
	return 0, nil
}

// makeWorkdir makes -w's directory if the image lacks it, as docker does,
// while the child is still the container's root (before --user). Only with
// a root of its own (step 3): after pivot_root every path resolves inside
// the container, symlinks included, so nothing is made on the host.
// Without one, / is the host's, and mini makes nothing there.
func makeWorkdir(ctx *Context) error {
	dir := ctx.Spec.Dir
	if dir == "" || !ctx.Spec.OwnRoot() {
		return nil
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ctx.Tracef("mkdir -p %q: the image has no such directory", dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-w %s: %w", dir, err)
	}
	return nil
}

// workdir changes to -w's directory, as the user the command runs as.
func workdir(ctx *Context) error {
	dir := ctx.Spec.Dir
	if dir == "" {
		return nil
	}
	ctx.Tracef("chdir(%q)", dir)
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w (the -w directory must exist in the container)", dir, err)
	}
	return nil
}

// InitProcessArg is the hidden first argument of mini as the container's
// PID 1 with --init (steps/02-pid/init.go).
const InitProcessArg = "init-process"

// execInit executes mini itself in place of the command, as PID 1, with the
// command's path and argv after InitProcessArg (and --lab=N before them,
// for a learner's init). /proc/self/exe is mini even after pivot_root: the
// link names the file, wherever it is.
func execInit(ctx *Context, path string, fail func(int, error) int) int {
	argv := []string{os.Args[0], InitProcessArg}
	if ctx.Spec.Lab != 0 {
		argv = append(argv, fmt.Sprintf("--lab=%d", ctx.Spec.Lab))
	}
	argv = append(append(argv, path), ctx.Spec.Args...)
	ctx.Tracef("execve(\"/proc/self/exe\", %q): --init, mini stays PID 1", argv)
	err := unix.Exec("/proc/self/exe", argv, ctx.Spec.Env)
	hint := ""
	if errors.Is(err, unix.ENOENT) {
		// The file is there: its ELF interpreter is not, in the image.
		hint = " (a mini linked dynamically cannot run inside the container: build it static, CGO_ENABLED=0, as make build does)"
	}
	return fail(125, fmt.Errorf("exec /proc/self/exe (--init): %w%s", err, hint))
}

// closeOnExecFrom marks every fd from first up close-on-exec, with one
// close_range(2) (Linux 5.11); on an older kernel, or under a seccomp
// filter older than the call (an OCI config's, in place by then without
// no_new_privs: it refuses what it does not name), fd by fd as
// /proc/self/fd lists them.
func closeOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
		if err != nil {
			return fmt.Errorf("close_range(%d, ~0, CLOSE_RANGE_CLOEXEC): %w", first, err)
		}
		return nil
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list /proc/self/fd: %w", err)
	}
	for _, e := range fds {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// Active returns steps 1..n of all, in order. A rootless run (mini run by a
// user without root) at step 1 or more also gets the step that makes the
// user namespace (the one with IDMaps, step 5) when n is below it: a user
// without root may create the other namespaces only together with a user
// namespace of its own (user_namespaces(7)), as unshare --map-root-user does.
func Active(all []Step, n int, rootless bool) []Step {
	var out []Step
	for _, s := range all {
		_, userns := s.(IDMapper)
		if s.Number() >= 1 && (s.Number() <= n || rootless && n >= 1 && userns) {
			out = append(out, s)
		}
	}
	return out
}

// errNotFound is returned by lookPath when no PATH entry has the command.
var errNotFound = errors.New("executable file not found in $PATH")

// lookPath finds file in the PATH of the container's environment, not mini's:
// from step 3 on, / is the image.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, checkExecutable(file)
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	var firstErr error
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, file)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, unix.ENOENT) && firstErr == nil {
			firstErr = err // found but not executable: 126, as a shell does
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", fmt.Errorf("exec %s: %w", file, errNotFound)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("exec %s: %w", p, unix.ENOENT)
	}
	if fi.IsDir() {
		return fmt.Errorf("exec %s: is a directory: %w", p, unix.EACCES)
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return fmt.Errorf("exec %s: %w", p, err)
	}
	return nil
}

// execCode is the exit code a shell gives: 127 for a command that is not
// there, 126 for one that is there but cannot be executed.
func execCode(err error) int {
	if errors.Is(err, errNotFound) || errors.Is(err, unix.ENOENT) {
		return 127
	}
	return 126
}
