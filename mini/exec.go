package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"mini/mini/container"
	"mini/mini/enter"
	"mini/mini/terminal"
	"mini/steps"
	cgroups "mini/steps/07-cgroups"
	security "mini/steps/09-security"
)

const execUsage = "exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]"

// execShort is how mini help lists it.
const execShort = "exec [flags] CONTAINER COMMAND [ARG...]"

// execMain runs a command in a running container, as docker exec does: in
// its namespaces, its cgroup, its environment, as its root or -u USER. The
// exit code is the command's. See mini/enter and docs/exec.md.
func execMain(args []string) int {
	fs, root := commandFlags("exec", execUsage)
	fs.SetInterspersed(false) // flags after CONTAINER are the command's
	interactive := fs.BoolP("interactive", "i", false, "keep stdin open: the command reads mini's")
	tty := fs.BoolP("tty", "t", false, "give the command a pseudo-terminal")
	envFlags := fs.StringArrayP("env", "e", nil, "set an environment variable, KEY=VALUE (KEY alone: the host's value)")
	dir := fs.StringP("workdir", "w", "", "working directory (default: the container's)")
	user := fs.StringP("user", "u", "", "NAME|UID[:GROUP|GID] to run as (default: the container's root)")
	trace := fs.Bool("trace", false, "print each join")
	if err := parseCommand(fs, args, 2, execUsage); err != nil {
		return commandExit(err)
	}
	s, err := find(*root, fs.Arg(0))
	if err != nil {
		return commandExit(err)
	}
	p := &enter.Process{Args: fs.Args()[1:], Dir: s.Spec.Dir, User: *user, Home: true}
	if *dir != "" {
		if !filepath.IsAbs(*dir) {
			return commandExit(fmt.Errorf("-w %q: the working directory must be an absolute path", *dir))
		}
		p.Dir = *dir
	}
	if p.Args[0] == "" {
		return commandExit(errors.New("exec: the COMMAND is empty"))
	}
	if p.Env, err = addEnv(append([]string(nil), s.Spec.Env...), *envFlags); err != nil {
		return commandExit(err)
	}
	hasTerm := false
	for _, kv := range *envFlags {
		if strings.HasPrefix(kv, "HOME=") {
			p.Home = false
		}
		hasTerm = hasTerm || strings.HasPrefix(kv, "TERM=")
	}
	if *tty && !hasTerm {
		p.Env = append(p.Env, "TERM=xterm") // docker's
	}
	if *tty && *interactive && !steps.IsTerminal(os.Stdin) {
		return commandExit(errors.New("-i -t: the input device is not a TTY (docker's words): run with a terminal, or without -t"))
	}
	if *trace {
		p.Trace = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "[exec] "+format+"\n", args...)
		}
	}
	code, err := execIn(s, p, *interactive, *tty)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
	}
	return code
}

// execIn starts p in the container s and waits for it.
func execIn(s *container.State, p *enter.Process, interactive, tty bool) (int, error) {
	if os.Geteuid() != 0 {
		// Without root the joins would have to start with the user
		// namespace, and the PID namespace take a second fork (docs/exec.md).
		return 125, errors.New("mini exec needs root: run it with sudo")
	}
	t, done, err := execTarget(s)
	if err != nil {
		return 125, err
	}
	defer done()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 125, err
	}
	defer null.Close()
	p.Stdio = [3]*os.File{null, os.Stdout, os.Stderr}
	if interactive {
		p.Stdio[0] = os.Stdin
	}
	// Without -t, a terminal of the caller's is not handed in: pipes stand
	// in for it (steps.StandIn).
	started := func() {}
	if !tty {
		var stop func()
		if p.Stdio, started, stop, err = steps.StandIn(p.Stdio); err != nil {
			return 125, err
		}
		defer stop()
	}
	if p.Tty = tty; tty {
		for _, f := range []*os.File{os.Stdin, os.Stdout} {
			if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
				p.Size = ws
				break
			}
		}
	}
	// Signals sent to mini exec go to the command: it is in a session of
	// its own, where ^C at the caller's terminal does not reach it.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	proc, err := enter.Start(t, p)
	started()
	if err != nil {
		var e *enter.Error
		if errors.As(err, &e) {
			return e.Code, e.Err
		}
		return 125, err
	}
	if proc.Master != nil {
		var in *os.File
		if interactive {
			in = os.Stdin
		}
		relay := terminal.Start(proc.Master, in, os.Stdout)
		defer relay.Stop()
	}
	go func() {
		for sig := range sigs {
			_ = unix.PidfdSendSignal(proc.PidFD, sig.(unix.Signal), nil, 0)
		}
	}()
	code, err := waitExit(proc.Pid)
	if err != nil {
		return 125, err
	}
	return code, nil
}

// waitExit waits for child pid with wait4(2) and returns its exit code as
// a shell gives it (128+n for signal n).
func waitExit(pid int) (int, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == nil {
			return steps.ExitCode(ws), nil
		}
		if err != syscall.EINTR {
			return 0, fmt.Errorf("wait4 %d: %w", pid, err)
		}
	}
}

// execTarget is the running container s as mini exec enters it: its init,
// pinned by a pidfd, step 9's part, and its cgroup to join. done closes
// what it opened.
func execTarget(s *container.State) (enter.Target, func(), error) {
	pidfd, err := s.OpenInit()
	if err != nil {
		return enter.Target{}, nil, err
	}
	t := enter.Target{PID: s.Init.PID, PidFD: pidfd, CgroupDir: -1}
	done := func() { unix.Close(pidfd) }
	if t.Security, err = execSecurity(s.Spec); err != nil {
		done()
		return t, nil, err
	}
	j, err := cgroups.Join(s.Spec)
	switch {
	case errors.Is(err, cgroups.ErrNoCgroup):
	case err != nil:
		done()
		return t, nil, err
	default:
		if j.Dir != nil {
			t.CgroupDir = int(j.Dir.Fd())
		}
		for _, f := range j.Tasks {
			t.CgroupTasks = append(t.CgroupTasks, int(f.Fd()))
		}
		done = func() { unix.Close(pidfd); j.Close() }
	}
	return t, done, nil
}

// execSecurity is step 9's part of the container, for a process exec
// starts in it: its capabilities, no_new_privs and seccomp filter, as its
// init got them (steps/09-security). nil when the container runs below
// step 9.
func execSecurity(spec *steps.Spec) (*enter.Security, error) {
	if spec.Step < 9 {
		return nil, nil
	}
	keep, last, err := security.Wanted(spec)
	if err != nil {
		return nil, err
	}
	return &enter.Security{
		Caps: keep, LastCap: last, NoNewPrivileges: spec.NoNewPrivileges,
		Filter: spec.Seccomp, FilterFlags: spec.SeccompFlags,
	}, nil
}
