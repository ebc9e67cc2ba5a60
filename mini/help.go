package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"mini/steps"
)

func printHelp(w io.Writer) {
	fmt.Fprintf(w, `mini: a container runtime written to be read

Usage:
  mini run [flags] IMAGE [COMMAND [ARG...]]   run COMMAND in a container
%s  mini version                               print the version and the steps
  mini help [run]                            print this help

Steps (mini run --step N runs steps 1..N; the default is %d):
  0  no isolation: re-exec, spec pipe, sync barrier, wait
`, lifeHelp(), maxStep())
	for _, s := range allSteps {
		fmt.Fprintf(w, "  %d  %s\n", s.Number(), s.Name())
	}
	fmt.Fprintf(w, `
Exit codes: the command's own; 125 mini failed; 126 the command cannot be
executed; 127 the command was not found; 128+n the command was killed by
signal n. Run 'mini help run' for the flags.
`)
}

func printRunHelp(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: mini run [flags] IMAGE [COMMAND [ARG...]]\n\nFlags:\n%s", fs.FlagUsages())
}

// helpRun prints run's flags for "mini help run".
func helpRun(w io.Writer) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	var s string
	runFlags(fs, &steps.Spec{}, &s)
	printRunHelp(w, fs)
}

// lifeHelp lists the commands that act on containers, for printHelp.
func lifeHelp() string {
	var b strings.Builder
	for _, name := range lifeOrder {
		c := lifeCommands[name]
		fmt.Fprintf(&b, "  mini %-38s %s\n", c.usage, c.what)
	}
	return b.String()
}
