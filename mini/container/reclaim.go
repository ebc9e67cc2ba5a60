package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"mini/steps"
)

// Refresh brings s up to date when the mini that held it is gone: killed by
// SIGKILL, it could neither record how the container ended nor clean up,
// and its container was killed with it (the engine's parent-death signal).
// The steps' own Cleanup hooks then do what that mini would have done: with
// the spec it recorded, they release the address, remove the cgroup, and
// keep or remove the layers. A container that never started, or ran with
// --rm, is removed; any other is recorded as exited, killed (137). Every
// mini command that reads states calls it, so whichever comes next
// reclaims. It returns nil when s is removed.
func Refresh(s *State, recipe Recipe, out io.Writer) (*State, error) {
	if s.Status == Exited || s.Holder.Alive() || s.outlives() {
		return s, nil
	}
	root := s.Spec.Root
	unlock, err := lock(root)
	if err != nil {
		return s, err
	}
	defer unlock()
	// Another mini may have reclaimed it while this one waited for the lock.
	s, err = Load(root, s.ID)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil || s.Status == Exited || s.Holder.Alive() || s.outlives() {
		return s, err
	}
	started := s.Status == Running
	spec := s.Spec
	spec.Trace = false
	ctx := steps.NewContext(spec, "host", out)
	ctx.Started = started
	cerr := steps.Cleanup(ctx, recipe(spec))
	if !started || spec.Remove {
		if cerr != nil {
			return s, cerr // the state stays, for the next command to try again
		}
		return nil, removeState(root, s.ID)
	}
	s.Status, s.Finished, s.ExitCode, s.Init = Exited, time.Now().UTC(), 137, steps.Owner{}
	s.Error = fmt.Sprintf("the mini that held it (pid %d) was killed, and the container with it", s.Holder.PID)
	if cerr != nil {
		s.Error += "; cleanup: " + cerr.Error()
	}
	return s, s.Save()
}

// outlives says whether s is a container that outlives the mini that held
// it: one of mini create (mini/oci), once started, whose init the caller
// reaps. Nothing of it is reclaimed: mini delete undoes what it holds.
func (s *State) outlives() bool {
	return s.Spec != nil && s.Spec.WaitStart && s.Status == Running
}

// Remove removes a container that is not running: what --rm would have done
// when it exited (the steps' Cleanup hooks with Spec.Remove set: step 8
// removes the layers it kept), then its state and log.
func Remove(s *State, recipe Recipe, out io.Writer) error {
	spec := s.Spec
	spec.Remove, spec.Trace = true, false
	ctx := steps.NewContext(spec, "host", out)
	ctx.Started = true
	if err := steps.Cleanup(ctx, recipe(spec)); err != nil {
		return err
	}
	return removeState(spec.Root, s.ID)
}
