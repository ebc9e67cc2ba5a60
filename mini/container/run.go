package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Recipe returns the steps a spec runs, in order (mini's recipe, with a
// learner's lab step if asked): the same steps that ran the container clean
// up after it.
type Recipe func(spec *steps.Spec) []steps.Step

// Run is a container's life as mini records it, the one code path of mini
// run in the foreground and of the monitor of run -d: run it through the
// engine (steps.Run), record it, then when the command started and how it
// ended. s is what Create returned. started, if not nil, is called once the
// command runs, after the state says so. A run that fails before its
// command starts leaves no state, as it leaves nothing else.
func Run(s *State, recipe Recipe, out io.Writer, started func(*State)) (int, error) {
	spec := s.Spec
	active := recipe(spec)
	if !s.recorded {
		active = append([]steps.Step{recorder{s}}, active...)
	}
	spec.OnStart = func(pid int) {
		s.Status, s.Started = Running, time.Now().UTC()
		s.Init = steps.Owner{PID: pid}
		// The start time makes the pid a process that cannot be mistaken
		// for another; if it cannot be read, the command has exited already.
		if start, err := steps.ProcessStart(pid); err == nil {
			s.Init.Start = start
		}
		if err := s.Save(); err != nil {
			fmt.Fprintf(out, "mini: record container %s as running: %v\n", s.ID, err)
		}
		if started != nil {
			started(s)
		}
	}
	code, runErr := steps.Run(spec, active, "mini", out)
	spec.OnStart = nil
	if s.Status == Created {
		// Never started: nothing of it stays, not even the directories
		// made for it.
		if err := s.Discard(); err != nil && runErr == nil {
			return 125, err
		}
		return code, runErr
	}
	if spec.Remove {
		if err := removeState(spec.Root, s.ID); err != nil && runErr == nil {
			return 125, err
		}
		return code, runErr
	}
	s.Status, s.Finished, s.ExitCode, s.Init = Exited, time.Now().UTC(), code, steps.Owner{}
	if runErr != nil {
		s.Error = runErr.Error()
	}
	if err := s.Save(); err != nil && runErr == nil {
		return 125, err
	}
	return code, runErr
}

// Discard removes the state Create wrote, and the directories it made, for
// a container that never started.
func (s *State) Discard() error {
	err := removeState(s.Spec.Root, s.ID)
	for i := len(s.made) - 1; i >= 0; i-- {
		// Another container may be in there by now: then it stays.
		if rerr := os.Remove(s.made[i]); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && !errors.Is(rerr, unix.ENOTEMPTY) && !errors.Is(rerr, unix.EEXIST) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// recorder writes the state of a container that Create did not write (one
// without --name) while its child starts: first of the Attach hooks, so
// before step 8 makes the container's directory, and in the time the
// child's runtime takes to start, during which the host would otherwise
// wait. (A mini's first JSON encoding costs most of a millisecond; the
// engine's of the spec, at the barrier, comes after and costs nothing
// more.) Until then a run that fails leaves no state to remove.
type recorder struct{ s *State }

func (recorder) Number() int  { return 0 }
func (recorder) Name() string { return "state" }

func (r recorder) Attach(ctx *steps.Context, pid int) error {
	ctx.Tracef("write %s", statePath(r.s.Spec.Root, r.s.ID))
	return r.s.Record()
}
