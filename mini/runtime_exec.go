package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"mini/mini/container"
	"mini/mini/enter"
	"mini/mini/oci"
	"mini/steps"
	security "mini/steps/09-security"
)

const ociExecUsage = "exec [--process FILE | flags] [--detach] [--pid-file FILE] [--console-socket SOCKET] ID [COMMAND [ARG...]]"

// ociExecMain starts another process in a running container, as runc exec
// does: described by a process.json (--process, what containerd and conmon
// pass) or by flags and a command. The process joins the container's
// namespaces and cgroup with mini/enter, what mini exec does. With
// --detach mini returns once it runs, and its caller, a subreaper, reaps
// it; without, mini waits and exits with its status.
func ociExecMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("exec", ociExecUsage)
	fs.SetInterspersed(false)
	procFile := fs.StringP("process", "p", "", "the process, as process.json (the config's process object)")
	detach := fs.BoolP("detach", "d", false, "return once the process runs")
	pidFile := fs.String("pid-file", "", "write the process's pid to this file")
	console := fs.String("console-socket", "", "with a terminal: send its master to this unix socket")
	tty := fs.BoolP("tty", "t", false, "give the process a terminal (needs --console-socket)")
	cwd := fs.String("cwd", "", "working directory (default: the container's)")
	envs := fs.StringArrayP("env", "e", nil, "set an environment variable, KEY=VALUE")
	user := fs.StringP("user", "u", "", "UID[:GID] to run as (default: the container's)")
	gids := fs.StringArrayP("additional-gids", "g", nil, "a supplementary group id")
	caps := fs.StringArrayP("cap", "c", nil, "a capability to add")
	nnp := fs.Bool("no-new-privs", false, "set no_new_privs")
	preserve := fs.Int("preserve-fds", 0, "pass fds 3..3+N-1 on (mini: 0 only)")
	label := fs.String("process-label", "", "an SELinux label (mini: none)")
	armor := fs.String("apparmor", "", "an AppArmor profile (mini: none)")
	fs.Bool("ignore-paused", false, "accepted")
	if err := parseOCI(fs, args, 1, true, ociExecUsage); err != nil {
		return err
	}
	switch {
	case *preserve != 0:
		return fmt.Errorf("--preserve-fds %d: mini gives the process fds 0, 1 and 2 only", *preserve)
	case *label != "":
		return errors.New("--process-label: mini has no SELinux")
	case !oci.Unconfined(*armor):
		return fmt.Errorf("--apparmor %q: mini has no AppArmor: leave it out, or ask for unconfined", *armor)
	}
	s, err := g.find(fs.Arg(0))
	if err != nil {
		return err
	}
	if st := oci.Status(s); st != specs.StateRunning {
		return fmt.Errorf("cannot exec in container %s: it is %s, not running", fs.Arg(0), st)
	}
	var p specs.Process
	if *procFile != "" {
		data, err := os.ReadFile(*procFile)
		if err != nil {
			return fmt.Errorf("--process: %w", err)
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("--process %s: %w", *procFile, err)
		}
	} else {
		if fs.NArg() < 2 {
			return fmt.Errorf("exec: no command, and no --process: mini %s", ociExecUsage)
		}
		p = specs.Process{Args: fs.Args()[1:], Env: append(s.Spec.Env, *envs...), Cwd: s.Spec.Dir, Terminal: *tty, NoNewPrivileges: *nnp || s.Spec.NoNewPrivileges}
		if *cwd != "" {
			p.Cwd = *cwd
		}
		if p.User, err = execUser(s.Spec.User, *user, *gids); err != nil {
			return err
		}
		if len(*caps) > 0 {
			all := append(append([]string{}, s.Spec.Caps...), *caps...)
			p.Capabilities = &specs.LinuxCapabilities{Bounding: all}
		}
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return errors.New("exec: process.args is empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("exec: process.cwd %q: must be an absolute path", p.Cwd)
	}
	if p.Terminal && *console == "" {
		return errors.New("exec: a terminal needs --console-socket, where mini sends its master")
	}
	if !oci.Unconfined(p.ApparmorProfile) || p.SelinuxLabel != "" {
		return errors.New("exec: process.apparmorProfile (but unconfined) and selinuxLabel: mini has neither AppArmor nor SELinux")
	}
	code, err := ociExec(s, p, *console, *pidFile, *detach)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// execUser is --user and --additional-gids as a process.json's user.
func execUser(own, flag string, gids []string) (specs.User, error) {
	var u specs.User
	spec := own
	if flag != "" {
		spec = flag
	}
	uid, gid, _ := strings.Cut(spec, ":")
	n, err := strconv.ParseUint(uid, 10, 32)
	if err != nil && uid != "" {
		return u, fmt.Errorf("--user %q: want UID[:GID], numbers", spec)
	}
	u.UID = uint32(n)
	if gid != "" {
		g, err := strconv.ParseUint(gid, 10, 32)
		if err != nil {
			return u, fmt.Errorf("--user %q: want UID[:GID], numbers", spec)
		}
		u.GID = uint32(g)
	}
	for _, s := range gids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return u, fmt.Errorf("--additional-gids %q: want a number", s)
		}
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	return u, nil
}

// ociExec starts p in the running container s.
func ociExec(s *container.State, p specs.Process, console, pidFile string, detach bool) (int, error) {
	t, done, err := execTarget(s)
	if err != nil {
		return 1, err
	}
	defer done()
	if t.Security != nil {
		t.Security.NoNewPrivileges = p.NoNewPrivileges
		if p.Capabilities != nil {
			if t.Security.Caps, err = security.CapMask("process.capabilities.bounding", p.Capabilities.Bounding); err != nil {
				return 1, err
			}
		}
	}
	ep := &enter.Process{
		Args: p.Args, Env: p.Env, Dir: p.Cwd, User: fmt.Sprintf("%d:%d", p.User.UID, p.User.GID),
		Groups: append([]uint32{p.User.GID}, p.User.AdditionalGids...), Home: true,
		Stdio: [3]*os.File{os.Stdin, os.Stdout, os.Stderr}, Tty: p.Terminal,
	}
	for _, kv := range p.Env {
		if strings.HasPrefix(kv, "HOME=") {
			ep.Home = false
		}
	}
	if p.ConsoleSize != nil {
		ep.Size = &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
	}
	if !p.Terminal {
		for i, f := range ep.Stdio {
			if steps.IsTerminal(f) {
				return 1, fmt.Errorf("fd %d is a terminal: the process would get yours (TIOCSTI); redirect it, or give it its own (process.terminal and --console-socket)", i)
			}
		}
	}
	proc, err := enter.Start(t, ep)
	if err != nil {
		return 1, err
	}
	defer unix.Close(proc.PidFD)
	if proc.Master != nil {
		err := sendConsole(console, proc.Master)
		proc.Master.Close()
		if err != nil {
			_ = unix.PidfdSendSignal(proc.PidFD, unix.SIGKILL, nil, 0)
			return 1, fmt.Errorf("--console-socket %s: %w", console, err)
		}
	}
	if err := oci.WritePidFile(pidFile, proc.Pid); err != nil {
		_ = unix.PidfdSendSignal(proc.PidFD, unix.SIGKILL, nil, 0)
		return 1, err
	}
	if detach {
		return 0, nil
	}
	code, err := waitExit(proc.Pid)
	if err != nil {
		return 1, err
	}
	return code, nil
}
