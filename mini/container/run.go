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
// run in the foreground and of the monitor of run -d: once recorded
// (Create), run it through the engine (steps.Run), record when the command
// started and how it ended. started, if not nil, is called once the command
// runs, after the state says so. A run that fails before its command starts
// leaves no state, as it leaves nothing else.
// s is what Create returned.
func Run(s *State, recipe Recipe, out io.Writer, started func(*State)) (int, error) {
	spec := s.Spec
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
	code, runErr := steps.Run(spec, recipe(spec), "mini", out)
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
