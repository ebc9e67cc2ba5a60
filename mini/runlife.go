package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"mini/mini/container"
	"mini/mini/monitor"
	"mini/mini/terminal"
	"mini/steps"
	network "mini/steps/06-net"
)

// lifeOptions are mini run's flags that are not the container's but say how
// mini holds it: in the foreground or from a monitor (-d), and its log.
type lifeOptions struct {
	detach      bool
	logMax      int64
	interactive bool
	tty         bool
}

// lifeFlags declares them, docker's names.
func lifeFlags(fs *pflag.FlagSet) {
	fs.BoolP("detach", "d", false, "run in the background: print the container id and return once the command runs")
	listFlag(fs, new([]string), "log-opt", "", "log option of run -d: max-size=SIZE (default 10m), the most one log file holds")
	fs.BoolP("tty", "t", false, "give the command a pseudo-terminal (its controlling terminal, TERM=xterm)")
	fs.BoolP("interactive", "i", false, "keep stdin open (a foreground run always has mini's)")
}

// parse reads them from the parsed flags; -t is the spec's.
func (o *lifeOptions) parse(fs *pflag.FlagSet, spec *steps.Spec) error {
	o.detach, _ = fs.GetBool("detach")
	o.interactive, _ = fs.GetBool("interactive")
	spec.Tty, _ = fs.GetBool("tty")
	o.tty = spec.Tty
	if o.interactive && spec.Tty && !o.detach && !steps.IsTerminal(os.Stdin) {
		return errors.New("-i -t: the input device is not a TTY (docker's words): run with a terminal, or without -t")
	}
	o.logMax = container.DefaultLogMax
	for _, opt := range *fs.Lookup("log-opt").Value.(listValue).list {
		k, v, _ := strings.Cut(opt, "=")
		if k != "max-size" {
			return fmt.Errorf("--log-opt %q: mini's json-file log knows max-size=SIZE only", opt)
		}
		n, err := parseSize(v)
		if err != nil {
			return fmt.Errorf("--log-opt %q: %v", opt, err)
		}
		o.logMax = n
	}
	return nil
}

// parseSize reads a size as docker's log options do: a whole number, then
// an optional k, m or g (powers of 1000).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToLower(s[len(s)-min(len(s), 1):]) {
	case "k":
		mult = 1000
	case "m":
		mult = 1000 * 1000
	case "g":
		mult = 1000 * 1000 * 1000
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("want a size such as 100k, 10m or 1g")
	}
	return n * mult, nil
}

// runContainer runs the container spec, which args describe, in the
// foreground or from a monitor (-d). Either way the container is recorded
// (mini/container), so that mini ps lists it.
func runContainer(args []string, spec *steps.Spec, opts lifeOptions) (int, error) {
	if opts.detach {
		code, err := monitor.Start(args, spec.ID)
		if err == nil {
			fmt.Println(spec.ID)
		}
		return code, err
	}
	if err := resolveNet(spec); err != nil {
		return 125, err
	}
	s, err := container.Create(spec, false)
	if err != nil {
		return 125, err
	}
	return container.Run(s, terminal.WithRelay(recipe, func(master *os.File) func() {
		var in *os.File
		if opts.interactive {
			in = os.Stdin
		}
		return terminal.Start(master, in, os.Stdout).Stop
	}), os.Stderr, nil)
}

// monitorMain is the hidden command mini run -d starts.
func monitorMain() int {
	return monitor.Main(func(args []string, id string) (*steps.Spec, int64, error) {
		var opts lifeOptions
		spec, err := parseRunID(args, id, &opts)
		if err == nil {
			err = resolveNet(spec)
		}
		return spec, opts.logMax, err
	}, recipe, holdMain)
}

// env adds TERM=xterm for -t, docker's, unless -e gave a TERM.
func (o *lifeOptions) env(env []string) []string {
	if !o.tty {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "TERM=") {
			return env
		}
	}
	return append(env, "TERM=xterm")
}

// resolveNet finds the container of --net container:NAME|ID, which must be
// running: step 6 joins the network namespace of its init (NetJoin), named
// by its id from now on.
func resolveNet(spec *steps.Spec) error {
	if !network.IsContainer(spec.Net) {
		return nil
	}
	ref := strings.TrimPrefix(spec.Net, network.ContainerPrefix)
	if ref == "" {
		return nil // step 6's Validate says what is missing
	}
	other, err := container.Find(spec.Root, ref, recipe, os.Stderr)
	if err != nil {
		return fmt.Errorf("--net %s: %w", spec.Net, err)
	}
	if !other.Running() {
		return fmt.Errorf("--net %s: container %s is not running", spec.Net, other.Name)
	}
	spec.Net, spec.NetJoin = network.ContainerPrefix+other.ID, other.Init
	return nil
}
