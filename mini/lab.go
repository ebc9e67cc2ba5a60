package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	lifecycle "mini/lab/00-lifecycle"
	labuts "mini/lab/01-uts"
	labpid "mini/lab/02-pid"
	labmount "mini/lab/03-mount"
	labipc "mini/lab/04-ipc"
	labuser "mini/lab/05-user"
	labnet "mini/lab/06-net"
	labcgroups "mini/lab/07-cgroups"
	laboverlay "mini/lab/08-overlay"
	labsecurity "mini/lab/09-security"
	"mini/mini/oci"
	"mini/mini/terminal"
	"mini/steps"
)

// The workshop: lab/NN-name is a learner's own version of step NN, a Step
// that embeds steps/NN-name's: the hooks the lab defines (TODOs in place of
// their bodies) take the place of the reference's, the others are mini's.
// "mini run --step N --lab" runs it in place of the reference step N, and so
// does $MINI_LAB=N, which lets the scenarios run unchanged against it
// (make lab-check STEP=N). See lab/README.md.

// labEnv names the lab step without --lab.
const labEnv = "MINI_LAB"

// labSteps are the learners' versions, one per step.
var labSteps = []steps.Step{
	labuts.Step{},
	labpid.Step{},
	labmount.Step{},
	labipc.Step{},
	labuser.Step{},
	labnet.Step{},
	labcgroups.Step{},
	laboverlay.Step{},
	labsecurity.Step{},
}

// everyLab is spec.Lab for $MINI_LAB=all: every step is the learner's, and
// at --step 0 the engine too (lab/00-lifecycle). It travels to the child as
// spec.Lab does.
const everyLab = -1

// labNumber is the step the learner's version replaces: --step with --lab,
// else $MINI_LAB, else 0 (none); everyLab for all of them. A $MINI_LAB
// above --step replaces nothing. Lab 00, the engine's, replaces mini's only
// at --step 0, where it is everyLab: there is no other step to replace.
func labNumber(flag bool, step int) (int, error) {
	n, from := 0, "--lab"
	switch v := os.Getenv(labEnv); {
	case flag:
		n = step
	case v == "all":
		return everyLab, nil
	case v != "":
		var err error
		from = fmt.Sprintf("$%s=%s", labEnv, v)
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			return 0, fmt.Errorf("%s: want the number of the step whose lab to run, or all, or unset it", from)
		}
	}
	switch {
	case n == 0 && step == 0 && (flag || os.Getenv(labEnv) == "0"):
		return everyLab, nil // lab 00
	case n == 0:
		return 0, nil
	case findStep(labSteps, n) == nil:
		return 0, fmt.Errorf("%s: there is no lab for step %d: lab/ has steps 0, %s", from, n, stepNumbers(labSteps))
	}
	return n, nil
}

// replaced says whether the learner's version of step n runs in place of
// mini's.
func replaced(spec *steps.Spec, n int) bool { return spec.Lab == n || spec.Lab == everyLab }

// runLab00 runs a container at --step 0 with the learner's engine
// (lab/00-lifecycle) in place of mini's: in the foreground only, and
// without the container state the other runs keep (mini ps does not list
// it).
func runLab00(spec *steps.Spec, opts lifeOptions) (int, error) {
	if opts.detach || opts.tty {
		return 125, fmt.Errorf("your engine (lab/00-lifecycle) runs in the foreground, without a terminal: leave out -d and -t")
	}
	return lifecycle.Run(spec, "mini", os.Stderr)
}

// recipe returns the steps spec runs, in order: steps 1..spec.Step, with
// step spec.Lab the learner's. The host (mini run) and the child (mini init)
// both call it, so they run the same steps.
func recipe(spec *steps.Spec) []steps.Step {
	all := allSteps
	if spec.Lab != 0 {
		all = slices.Clone(allSteps)
		for i, s := range all {
			if lab := findStep(labSteps, s.Number()); lab != nil && replaced(spec, s.Number()) {
				all[i] = lab
			}
		}
	}
	if spec.OCI != nil {
		// A container of mini create: the steps its config asks for.
		return oci.Recipe(spec, all, &terminal.Step{})
	}
	active := steps.Active(all, spec.Step, spec.Rootless)
	if spec.Tty {
		// Not a step: -t's pseudo-terminal, made after every step's Init.
		active = append(active, &terminal.Step{})
	}
	return active
}

// checkLab refuses to run a lab step whose CloneFlags does not yet create
// the namespaces the reference step creates: its other hooks would act on
// the host's own (rename the host, mount over its directories). The flags
// are asked with a context that prints nothing.
func checkLab(spec *steps.Spec) error {
	ctx := steps.NewContext(spec, "host", io.Discard)
	for _, lab := range labSteps {
		n := lab.Number()
		if !replaced(spec, n) || n > spec.Step {
			continue
		}
		want, got := cloneFlags(ctx, findStep(allSteps, n)), cloneFlags(ctx, lab)
		if want&^got != 0 {
			return fmt.Errorf("lab step %d (%s): CloneFlags does not create the namespace this step is about yet (TODO 1 in lab/%02d-%s): without it the other hooks would change the host's",
				n, lab.Name(), n, lab.Name())
		}
	}
	return nil
}

func cloneFlags(ctx *steps.Context, s steps.Step) uintptr {
	if c, ok := s.(steps.Cloner); ok {
		return c.CloneFlags(ctx.For(s))
	}
	return 0
}

func findStep(list []steps.Step, n int) steps.Step {
	for _, s := range list {
		if s.Number() == n {
			return s
		}
	}
	return nil
}

// stepNumbers lists the steps' numbers: "1, 2, 3".
func stepNumbers(list []steps.Step) string {
	out := ""
	for i, s := range list {
		if i > 0 {
			out += ", "
		}
		out += strconv.Itoa(s.Number())
	}
	return out
}
