package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"mini/steps"
)

func printHelp(w io.Writer) {
	fmt.Fprintf(w, `mini: a container runtime written to be read

Usage:
%s
Steps (mini run --step N runs steps 1..N; the default is %d):
  0  no isolation: re-exec, spec pipe, sync barrier, wait
`, usageLines(), maxStep())
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

// usageLines lists the commands, for printHelp: run, those that act on
// containers, version and help.
func usageLines() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 1, 3, ' ', 0)
	fmt.Fprintln(w, "  mini run [flags] IMAGE [COMMAND [ARG...]]\trun COMMAND in a container")
	fmt.Fprintln(w, "  mini pull NAME\tfetch an image from a registry")
	fmt.Fprintln(w, "  mini images\tlist the images")
	fmt.Fprintln(w, "  mini load -i FILE\tload images from a docker save or OCI archive")
	fmt.Fprintln(w, "  mini save -o FILE NAME...\tsave images to an archive")
	fmt.Fprintln(w, "  mini tag SOURCE TARGET\tgive an image another name")
	fmt.Fprintln(w, "  mini rmi NAME...\tremove images")
	fmt.Fprintln(w, "  mini build -t NAME DIR\tbuild an image from DIR/Dockerfile")
	fmt.Fprintln(w, "  mini commit CONTAINER NAME\tmake an image of what a container changed")
	fmt.Fprintln(w, "  mini history NAME\tshow how an image was made, layer by layer")
	fmt.Fprintln(w, "  mini push NAME\tsend an image to a registry")
	for _, name := range lifeOrder {
		c := lifeCommands[name]
		fmt.Fprintf(w, "  mini %s\t%s\n", c.usage, c.what)
	}
	fmt.Fprintln(w, "  mini version\tprint the version and the steps")
	fmt.Fprintln(w, "  mini help [run]\tprint this help")
	w.Flush()
	return b.String()
}
