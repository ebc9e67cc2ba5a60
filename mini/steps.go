package main

import (
	"mini/steps"
	uts "mini/steps/01-uts"
	pid "mini/steps/02-pid"
	mount "mini/steps/03-mount"
	ipc "mini/steps/04-ipc"
	user "mini/steps/05-user"
	network "mini/steps/06-net"
	cgroups "mini/steps/07-cgroups"
	overlay "mini/steps/08-overlay"
	security "mini/steps/09-security"
)

// allSteps is the recipe, in order: mini run --step N runs the first N.
var allSteps = []steps.Step{
	uts.Step{},
	pid.Step{},
	mount.Step{},
	ipc.Step{},
	user.Step{},
	network.Step{},
	cgroups.Step{},
	overlay.Step{},
	security.Step{},
}

// maxStep is the highest step this build has, the default for --step.
func maxStep() int { return allSteps[len(allSteps)-1].Number() }
