// Package uts is your step 1: the UTS namespace. Fill in the TODOs in order,
// then check your work against the scenarios mini itself must pass:
//
//	sudo bin/mini run --step 1 --lab --hostname box rootfs/busybox hostname
//	sudo make lab-check STEP=1
//
// The exercise is lab/01-uts/README.md; mini's own version, the solution, is
// steps/01-uts/uts.go.
package uts

import (
	"errors"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/01-uts"
)

// Step is your step 1. It embeds mini's own, so the hooks you do not write
// are mini's (steps/01-uts/uts.go): Number, Name and Validate, which checks
// the name as the kernel and DNS will, on the host, before anything is made.
// You write CloneFlags and Init; yours take the place of mini's.
type Step struct{ ref.Step }

// CloneFlags returns the flag that gives the child a UTS namespace of its own:
// a copy of the host's hostname that it may change without changing the
// host's (uts_namespaces(7)).
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	// TODO 1: return the CLONE_NEW* flag of a new UTS namespace (clone(2));
	// the constants are in golang.org/x/sys/unix. Say what you do with
	// ctx.Tracef, so --trace shows it.
	return 0
}

// Init runs in the child, inside the new namespace, before the command.
func (Step) Init(ctx *steps.Context) error {
	// TODO 2: set the hostname to ctx.Spec.Hostname with sethostname(2)
	// (unix.Sethostname), tracing the call first. Wrap a failure so it names
	// the call: fmt.Errorf("sethostname %q: %w", ...).
	return errors.New("TODO 2 in lab/01-uts/uts.go: set the hostname")
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, unix.Sethostname}
