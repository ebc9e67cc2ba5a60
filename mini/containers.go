package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"mini/mini/container"
)

// The commands that act on containers (ps, logs, stop, kill, rm, wait,
// inspect, top, stats, exec) share these: a flag set with --root, the
// containers they name, and docker's output shapes.

// commandFlags is the flag set of "mini NAME", with --root; usage is the
// line "mini help" shows.
func commandFlags(name, usage string) (*pflag.FlagSet, *string) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", defaultRoot(), rootUsage)
	fs.Usage = func() {
		fmt.Fprintf(os.Stdout, "Usage: mini %s\n\nFlags:\n%s", usage, fs.FlagUsages())
	}
	return fs, root
}

// parseCommand parses args into fs, and checks that there are at least
// min arguments left. It prints the usage for -h and returns pflag.ErrHelp.
func parseCommand(fs *pflag.FlagSet, args []string, min int, usage string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err // pflag has printed the usage (fs.Usage)
		}
		return fmt.Errorf("%s: %v (usage: mini %s)", fs.Name(), err, usage)
	}
	if fs.NArg() < min {
		return fmt.Errorf("%s needs at least %d argument(s): mini %s", fs.Name(), min, usage)
	}
	return nil
}

// commandExit is the exit code of a command that failed to parse: 0 for
// -h, else 125 after the one line.
func commandExit(err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
	return 125
}

// absRoot makes --root absolute, as mini run does, so that a state's
// paths match.
func absRoot(root string) string {
	if abs, err := filepath.Abs(root); err == nil {
		return abs
	}
	return root
}

// find returns the container ref names under root, refreshed.
func find(root, ref string) (*container.State, error) {
	return container.Find(absRoot(root), ref, recipe, os.Stderr)
}

// each runs do on every container refs name, as docker's stop, kill and rm
// do: each one's name is printed when done, each failure on a line of its
// own, and the exit code is 125 if any failed.
func each(root string, refs []string, do func(*container.State) error) int {
	code := 0
	for _, ref := range refs {
		s, err := find(root, ref)
		if err == nil {
			err = do(s)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
			code = 125
			continue
		}
		fmt.Println(ref)
	}
	return code
}

// lifeCommand is a command that acts on containers.
type lifeCommand struct {
	main  func(args []string) int
	usage string
	what  string
}

// lifeCommands are the commands beside run, docker's names.
var lifeCommands = map[string]lifeCommand{
	"ps":      {psMain, psUsage, "list containers"},
	"exec":    {execMain, execShort, "run a command in a running container"},
	"logs":    {logsMain, logsUsage, "print the output of a container run with -d"},
	"stop":    {stopMain, stopUsage, "stop containers: SIGTERM, then SIGKILL"},
	"kill":    {killMain, killUsage, "send a signal to containers"},
	"rm":      {rmMain, rmUsage, "remove containers that are not running"},
	"wait":    {waitMain, waitUsage, "wait until containers stop; print their exit codes"},
	"inspect": {inspectMain, inspectUsage, "print containers as JSON"},
	"top":     {topMain, topUsage, "list the processes of a container"},
	"stats":   {statsMain, statsUsage, "show what containers use: CPU, memory, network, tasks"},
}

// lifeOrder is the order "mini help" lists them in.
var lifeOrder = []string{"exec", "ps", "logs", "stop", "kill", "rm", "wait", "inspect", "top", "stats"}

// rootUsage says where mini keeps its state by default.
const rootUsage = "where mini keeps its state ($MINI_ROOT, else /run/mini; without root, $XDG_RUNTIME_DIR/mini)"

// defaultRoot is --root's default: $MINI_ROOT, else /run/mini, which only
// root may write; a user without root gets $XDG_RUNTIME_DIR/mini, the
// per-user runtime directory (/run/user/UID) that rootless podman and
// docker use too, if the session has one.
func defaultRoot() string {
	if v := os.Getenv("MINI_ROOT"); v != "" {
		return v
	}
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); os.Geteuid() != 0 && xdg != "" {
		return filepath.Join(xdg, "mini")
	}
	return "/run/mini"
}

// listValue is a flag given once per value (-e A -e B), as pflag's
// StringArray, without the CSV writer pflag builds each time it prints one:
// a run defines ten such flags, and every mini pays for them at start-up.
type listValue struct{ list *[]string }

// listFlag defines a flag of fs that appends each value to *list.
func listFlag(fs *pflag.FlagSet, list *[]string, name, short, usage string) {
	fs.VarP(listValue{list}, name, short, usage)
}

func (v listValue) Set(s string) error { *v.list = append(*v.list, s); return nil }
func (v listValue) Type() string       { return "stringArray" }
func (v listValue) String() string     { return strings.Join(*v.list, ",") }
