package main

import (
	"mini/steps"
	uts "mini/steps/01-uts"
	pid "mini/steps/02-pid"
	mount "mini/steps/03-mount"
)

// allSteps is the recipe, in order: mini run --step N runs the first N.
var allSteps = []steps.Step{
	uts.Step{},
	pid.Step{},
	mount.Step{},
}

// maxStep is the highest step this build has, the default for --step.
func maxStep() int { return allSteps[len(allSteps)-1].Number() }
