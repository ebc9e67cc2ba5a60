// Package pid is step 2: the PID namespace makes the container's command
// process 1 of its own process tree. See docs/02-pid.md and
// pid_namespaces(7).
package pid

import (
	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is step 2.
type Step struct{}

func (Step) Number() int  { return 2 }
func (Step) Name() string { return "pid" }

// CloneFlags: the child is PID 1 of a new PID namespace. Because mini's init
// execs the command, the command itself is PID 1: when it exits, the kernel
// kills everything else in the namespace.
//
// /proc still shows the host's processes until step 3 mounts a /proc of this
// namespace: /proc reflects the PID namespace of whoever mounted it.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	if !ctx.Spec.OCI.NewNS("pid") {
		ctx.Tracef("no CLONE_NEWPID: the child is born in the PID namespace this thread joined (mini/oci)")
		return 0
	}
	ctx.Tracef("CLONE_NEWPID: the command will be PID 1")
	return unix.CLONE_NEWPID
}
