// Package pid is your step 2: the PID namespace. Fill in the TODO, then check
// your work against the scenarios mini itself must pass:
//
//	sudo bin/mini run --step 2 --lab rootfs/busybox sh -c 'echo $$'
//	sudo make lab-check STEP=2
//
// The exercise is lab/02-pid/README.md; mini's own version, the solution, is
// steps/02-pid/pid.go.
package pid

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/02-pid"
)

// Step is your step 2. It embeds mini's own (steps/02-pid/pid.go), which
// gives it Number and Name; you write CloneFlags, which takes the place of
// mini's.
type Step struct{ ref.Step }

// CloneFlags returns the flag that makes the child PID 1 of a new PID
// namespace (pid_namespaces(7)). mini's init execs the command, so the
// command itself is PID 1.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	// TODO 1: return the CLONE_NEW* flag of a new PID namespace (clone(2));
	// the constants are in golang.org/x/sys/unix. Say what you do with
	// ctx.Tracef, so --trace shows it.
	return 0
}

// Init is your --init: PID 1 of the container, which runs the command as
// its child, passes on the signals it gets, reaps every child that exits,
// and exits as the command did. mini runs it in place of its own
// (steps/02-pid/init.go) with --lab, or $MINI_LAB=2:
//
//	sudo bin/mini run --step 2 --lab --init rootfs/busybox sh -c 'sleep 1 & exec sleep 2'
func Init(path string, argv []string) int {
	// TODO 2: catch SIGCHLD and the signals to pass on (os/signal's
	// Notify), before the command starts: a signal that comes first must
	// not be lost.
	// TODO 3: start the command: syscall.ForkExec(path, argv, ...) with
	// fds 0, 1 and 2 and os.Environ().
	// TODO 4: for each signal: pass it on to the command (unix.Kill); on
	// SIGCHLD, reap every child that has exited (unix.Wait4(-1, ...,
	// unix.WNOHANG, nil) until it finds none), and once the command is one
	// of them, return its exit code: its status, or 128+n for signal n.
	fmt.Fprintln(os.Stderr, "mini: TODO 2 in lab/02-pid/pid.go: Init, PID 1 of --init, starts nothing yet")
	return 125
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{fmt.Sprint, os.Getpid, signal.Notify, syscall.ForkExec, unix.Kill}
