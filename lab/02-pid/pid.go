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
