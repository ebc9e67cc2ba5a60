// Command mini is a container runtime written to be read: mini run --step N
// runs a command with steps 1..N of the container recipe. See README.md.
package main

import (
	"fmt"
	"os"

	lifecycle "mini/lab/00-lifecycle"
	"mini/mini/monitor"
	"mini/steps"
)

func main() {
	os.Exit(Main())
}

// Main runs mini with os.Args and returns its exit code. The scenarios in
// testdata/script call it through testscript.
func Main() int {
	args := os.Args[1:]
	if len(args) == 0 {
		printHelp(os.Stdout)
		return 0
	}
	if isRuntimeCall(args) {
		return runtimeMain(args) // runc's command line (runtime.go)
	}
	switch args[0] {
	case initCommand:
		return initMain()
	case steps.InitProcessArg:
		return initProcessMain(args[1:])
	case lifecycle.InitArg: // lab/00-lifecycle's child
		return lifecycle.Init()
	case "run":
		return runMain(args[1:])
	case "images":
		return imagesMain(args[1:])
	case "tag":
		return tagMain(args[1:])
	case "rmi":
		return rmiMain(args[1:])
	case "pull", "load", "save", "push":
		return imageTool(args)
	case "build":
		return buildMain(args[1:])
	case "commit":
		return commitMain(args[1:])
	case "history":
		return historyMain(args[1:])
	case monitor.Command:
		return monitorMain()
	case "version", "--version":
		return versionMain()
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] == "run" {
			helpRun(os.Stdout)
			return 0
		}
		printHelp(os.Stdout)
		return 0
	default:
		if cmd, ok := lifeCommands[args[0]]; ok {
			return cmd.main(args[1:])
		}
		fmt.Fprintf(os.Stderr, "mini: unknown command %q: run 'mini help' for the list\n", args[0])
		return 125
	}
}
