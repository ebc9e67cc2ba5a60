package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"mini/mini/container"
	"mini/mini/oci"
)

// mini speaks two command lines. Docker's (mini run, ps, exec, kill ...)
// is the one people type; runc's (mini create, start, state, kill, delete
// ...) is the one an OCI runtime's callers use: containerd's shim, conmon
// for podman, the runtime-tools tests. See docs/oci.md.
//
// A call is runc's when it starts with one of runc's global flags (every
// engine passes --root at least), when its command is one docker's line
// has not (create, start, state, delete, pause, resume, spec, features),
// or when kill, ps or exec name a container that mini create made.

// runtimeFlags are runc's global flags, given before the command.
type runtimeFlags struct {
	root          string
	log           string // --log FILE: where mini's own lines go
	logFormat     string // text or json
	systemdCgroup bool
	debug         bool
}

// ociOnly are the commands only runc's line has.
var ociOnly = []string{"create", "start", "state", "delete", "pause", "resume", "spec", "features"}

// ociShared are the commands both lines have, runc's for a container of
// mini create.
var ociShared = []string{"kill", "ps", "exec"}

// runcExecOnly are flags of runc exec that docker exec has not.
var runcExecOnly = []string{"process", "p", "pid-file", "console-socket", "cwd", "additional-gids", "g", "cap", "c", "no-new-privs", "preserve-fds", "process-label", "apparmor"}

// valueFlags are the flags of kill, ps and exec, either line's, that take
// a value.
var valueFlags = []string{"e", "env", "u", "user", "w", "workdir", "s", "signal", "f", "format"}

// isRuntimeCall says whether args are runc's command line.
func isRuntimeCall(args []string) bool {
	if strings.HasPrefix(args[0], "-") {
		name, _, _ := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		return slices.Contains([]string{"root", "log", "log-format", "systemd-cgroup", "debug", "rootless", "criu"}, name)
	}
	if slices.Contains(ociOnly, args[0]) {
		return true
	}
	if !slices.Contains(ociShared, args[0]) {
		return false
	}
	// The container named: the first argument that is neither a flag nor
	// a flag's value.
	root := defaultRoot()
	for i := 1; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if args[0] == "exec" && slices.Contains(runcExecOnly, name) {
			return true
		}
		if v, ok := strings.CutPrefix(a, "--root="); ok {
			root = v
			continue
		}
		if a == "--root" && i+1 < len(args) {
			root, i = args[i+1], i+1
			continue
		}
		if strings.HasPrefix(a, "-") {
			if !hasValue && slices.Contains(valueFlags, name) {
				i++ // its value
			}
			continue
		}
		s, err := oci.Find(absRoot(root), a, recipe, io.Discard)
		return err == nil && s != nil
	}
	return false
}

// flagSet is the set of runc's global flags, which callers pass before
// the command; they go into g.
func (g *runtimeFlags) flagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("mini", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(false)
	fs.StringVar(&g.root, "root", defaultRoot(), "where containers' state is kept (runc's /run/runc; mini's "+rootUsage+")")
	fs.StringVar(&g.log, "log", "", "write mini's own messages to this file")
	fs.StringVar(&g.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "cgroupsPath is slice:prefix:name (mini makes the cgroup itself)")
	fs.BoolVar(&g.debug, "debug", false, "write mini's trace to the log")
	fs.Bool("rootless", false, "accepted: mini finds out itself")
	fs.String("criu", "", "accepted: mini does not checkpoint")
	return fs
}

// runtimeMain runs runc's command line. Exit codes are runc's: 0, or 1
// for any failure, after one line on stderr (and in --log).
func runtimeMain(args []string) int {
	g := &runtimeFlags{}
	fs := g.flagSet()
	if err := fs.Parse(args); err != nil {
		return g.fail(err)
	}
	if g.logFormat != "text" && g.logFormat != "json" {
		return g.fail(fmt.Errorf("--log-format %q: want text or json", g.logFormat))
	}
	g.root = absRoot(g.root)
	if fs.NArg() == 0 {
		return g.fail(errors.New("no command: mini [global flags] create|start|state|kill|delete|ps|exec|pause|resume|spec|features ..."))
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if g.debug {
		g.logf("debug", "%s %q", cmd, rest)
	}
	var err error
	switch cmd {
	case "create":
		err = createMain(g, rest)
	case "start":
		err = startMain(g, rest)
	case "state":
		err = stateMain(g, rest)
	case "kill":
		err = ociKillMain(g, rest)
	case "delete":
		err = deleteMain(g, rest)
	case "ps":
		err = ociPsMain(g, rest)
	case "pause", "resume":
		err = pauseMain(g, cmd, rest)
	case "exec":
		err = ociExecMain(g, rest)
	case "spec":
		err = specMain(g, rest)
	case "features":
		err = featuresMain(g, rest)
	default:
		err = fmt.Errorf("unknown command %q: mini's runtime commands are create, start, state, kill, delete, ps, exec, pause, resume, spec and features", cmd)
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code) // exec's command's own status
	}
	if err != nil {
		return g.fail(err)
	}
	return 0
}

// exitCode is the exit status of a process mini exec waited for, which
// mini exits with, as runc exec does.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// fail reports err as runc does, on stderr and in the log, and returns 1.
func (g *runtimeFlags) fail(err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	msg := oneLine(err)
	fmt.Fprintf(os.Stderr, "mini: %s\n", msg)
	g.logf("error", "%s", msg)
	return 1
}

// logf appends a line to --log, in its format: text as logrus writes it
// (runc's), or json, one object a line, which containerd reads back for
// the error of a failed call.
func (g *runtimeFlags) logf(level, format string, args ...any) {
	if g.log == "" {
		return
	}
	f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(logLine(g.logFormat, level, fmt.Sprintf(format, args...)))
}

// logLine is one line of the log.
func logLine(format, level, msg string) []byte {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if format == "json" {
		data, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		return append(data, '\n')
	}
	return []byte(fmt.Sprintf("time=%q level=%s msg=%q\n", now, level, msg))
}

// logWriter is what the holder's notes and trace go to: the log, each line
// an entry (notes as warnings, trace as debug), or stderr without --log.
func (g *runtimeFlags) logWriter() io.Writer {
	if g.log == "" {
		return os.Stderr
	}
	return writerFunc(func(p []byte) (int, error) {
		for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			level := "debug"
			if msg, ok := strings.CutPrefix(line, "mini: "); ok {
				level, line = "warning", msg
			}
			g.logf(level, "%s", line)
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// ociFlags is the flag set of runc command name.
func ociFlags(name, usage string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(os.Stdout, "Usage: mini [global flags] %s\n\nFlags:\n%s", usage, fs.FlagUsages())
	}
	return fs
}

// parseOCI parses args into fs and wants exactly n arguments left (at
// least n if more is set): parseCommand, with runc's upper bound.
func parseOCI(fs *pflag.FlagSet, args []string, n int, more bool, usage string) error {
	if err := parseCommand(fs, args, n, usage); err != nil {
		return err
	}
	if !more && fs.NArg() > n {
		return fmt.Errorf("%q requires exactly %d argument(s): mini %s", fs.Name(), n, usage)
	}
	return nil
}

// findOCI finds the container id under the global --root.
func (g *runtimeFlags) find(id string) (*container.State, error) {
	return oci.Find(g.root, id, recipe, g.logWriter())
}
