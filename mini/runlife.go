package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"mini/mini/container"
	"mini/mini/monitor"
	"mini/steps"
)

// lifeOptions are mini run's flags that are not the container's but say how
// mini holds it: in the foreground or from a monitor (-d), and its log.
type lifeOptions struct {
	detach bool
	logMax int64
}

// lifeFlags declares them, docker's names.
func lifeFlags(fs *pflag.FlagSet) {
	fs.BoolP("detach", "d", false, "run in the background: print the container id and return once the command runs")
	fs.StringArray("log-opt", nil, "log option of run -d: max-size=SIZE (default 10m), the most one log file holds")
}

// parse reads them from the parsed flags.
func (o *lifeOptions) parse(fs *pflag.FlagSet) error {
	o.detach, _ = fs.GetBool("detach")
	o.logMax = container.DefaultLogMax
	opts, _ := fs.GetStringArray("log-opt")
	for _, opt := range opts {
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
	s, err := container.Create(spec, false)
	if err != nil {
		return 125, err
	}
	return container.Run(s, recipe, os.Stderr, nil)
}

// monitorMain is the hidden command mini run -d starts.
func monitorMain() int {
	return monitor.Main(func(args []string, id string) (*steps.Spec, int64, error) {
		var opts lifeOptions
		spec, err := parseRunID(args, id, &opts)
		return spec, opts.logMax, err
	}, recipe)
}
