// Package lifecycle is your step 0: the engine in small. mini runs itself
// again (the re-exec), and the copy waits on fd 3 until the host has done
// what it must and sends the spec (the sync barrier); then it executes the
// command. Fill in the TODOs in order; after each one, run
//
//	sudo bin/mini run --step 0 --lab --trace rootfs/busybox echo hello
//
// and check your work against the scenarios mini's own engine must pass:
//
//	sudo make lab-check STEP=0
//
// The exercise is lab/00-lifecycle/README.md; mini's own version, the
// solution, is steps/engine.go (startChild, and Run's release of the
// barrier), steps/child.go (Init) and steps/barrier.go.
package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// InitArg is the hidden first argument of the copy: "mini lab-init" runs Init.
const InitArg = "lab-init"

// Run is the host's side: it starts the copy, releases it, and waits for
// the command. It returns the command's exit code (steps.ExitCode).
func Run(spec *steps.Spec, argv0 string, out io.Writer) (int, error) {
	ctx := steps.NewContext(spec, "host", out)
	ctx.Tracef("run %q at step 0, with your engine (lab/00-lifecycle)", spec.Args)

	// TODO 1: a unix(7) socket pair, the channel of the barrier:
	// unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0).
	// One end is the child's, the other yours.
	var childEnd, hostEnd int = -1, -1
	if childEnd < 0 {
		return 125, errors.New("TODO 1 in lab/00-lifecycle/lifecycle.go: a socket pair for the barrier")
	}

	// TODO 2: the re-exec. syscall.ForkExec("/proc/self/exe", []string{argv0,
	// InitArg}, ...) starts this very program again (proc(5): the link
	// names the file, wherever it is), and InitArg makes it run Init. Give
	// it fds 0, 1 and 2, and the child's end as its fd 3: ProcAttr.Files is
	// the list of the child's fds, in order. Env: []string{} (the command's
	// environment travels in the spec). Then close your copy of the child's
	// end. Trace "fork + execve /proc/self/exe lab-init: child pid N waits on
	// fd 3" with ctx.Tracef.
	pid := 0
	if pid == 0 {
		return 125, errors.New("TODO 2 in lab/00-lifecycle/lifecycle.go: run /proc/self/exe " + InitArg)
	}

	// Given: this is where mini's engine runs the steps' Attach hooks: the
	// child exists, its namespaces too, and it waits. At step 0 there are
	// none.

	// TODO 3: release the barrier: the spec as JSON (json.Marshal(spec)),
	// written to your end, which you then close: the child reads until end
	// of file. Trace "write spec to fd 3: released" first.
	if hostEnd >= 0 {
		return 125, errors.New("TODO 3 in lab/00-lifecycle/lifecycle.go: send the spec and close your end")
	}

	// Given: wait for the command, and turn how it ended into an exit code.
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == nil {
			break
		}
		if err != syscall.EINTR {
			return 125, fmt.Errorf("wait4 %d: %w", pid, err)
		}
	}
	return steps.ExitCode(ws), nil
}

// Init is the child's side, "mini lab-init": it waits for the spec on fd 3,
// then executes the command in place of itself. It returns only on failure,
// with the exit code.
func Init() int {
	// TODO 4: the barrier. Read fd 3 until end of file
	// (io.ReadAll(os.NewFile(3, "spec"))): it blocks until the host has
	// written the spec and closed its end. Then json.Unmarshal it into a
	// steps.Spec.
	var spec steps.Spec
	if len(spec.Args) == 0 {
		return fail(125, errors.New("TODO 4 in lab/00-lifecycle/lifecycle.go: read the spec from fd 3"))
	}
	ctx := steps.NewContext(&spec, "child", os.Stderr)
	ctx.Tracef("read spec from fd 3: released by the host")

	// Given: find the command in the PATH of its environment.
	path, err := steps.LookPath(spec.Args[0], spec.Env)
	if err != nil {
		return fail(steps.ExecCode(err), err)
	}
	// TODO 5: execute it, in place of this process (execve(2)):
	// unix.Exec(path, spec.Args, spec.Env). Trace it first. Exec returns
	// only if it failed: return fail(steps.ExecCode(err), err) then.
	return fail(125, errors.New("TODO 5 in lab/00-lifecycle/lifecycle.go: execve "+path))
}

// fail prints err as mini does and returns code.
func fail(code int, err error) int {
	fmt.Fprintf(os.Stderr, "mini: %v\n", err)
	return code
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, json.Marshal, unix.Exec}
