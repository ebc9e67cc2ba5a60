package oci

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"mini/mini/container"
	"mini/steps"
	cgroups "mini/steps/07-cgroups"
)

// ErrNotExist is runc's answer for an id it does not know.
var ErrNotExist = errors.New("container does not exist")

// Find returns the container mini create made with id under root: by its
// id as the caller named it, exactly (runc has no prefixes).
func Find(root, id string, recipe container.Recipe, out io.Writer) (*container.State, error) {
	if id == "" {
		return nil, errors.New("a container id is needed")
	}
	all, err := container.List(root)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.Spec.OCI == nil || s.Spec.OCI.ID != id {
			continue
		}
		s, err := container.Refresh(s, recipe, out)
		if s == nil && err == nil {
			break
		}
		return s, err
	}
	return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
}

// Status is the container's state as the runtime spec names it
// (runtime.md, "State"), and runc's "paused" for a frozen one: created
// while its init waits at the start barrier, running while its command
// runs, stopped once it has exited (and until mini delete).
func Status(s *container.State) specs.ContainerState {
	switch {
	case s.Status == container.Created && s.Holder.Alive() && s.Init.Alive():
		return specs.StateCreated
	case s.Status == container.Running && s.Init.Alive():
		if cgroups.Frozen(s.Spec) {
			return "paused"
		}
		return specs.StateRunning
	}
	return specs.StateStopped
}

// State is what mini state prints: the spec's state, with runc's rootfs,
// created and owner beside it (containerd reads them).
type State struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// StateOf is the state of s.
func StateOf(s *container.State) State {
	st := State{
		State: specs.State{
			Version: specs.Version, ID: s.Spec.OCI.ID, Status: Status(s),
			Bundle: s.Spec.OCI.Bundle, Annotations: s.Spec.OCI.Annotations,
		},
		Rootfs: s.Spec.Rootfs, Created: s.Created,
	}
	if st.Status != specs.StateStopped {
		st.Pid = s.Init.PID
	}
	return st
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup. The container must be created or running (runtime.md).
func Kill(s *container.State, sig unix.Signal, all bool) error {
	st := Status(s)
	if st == specs.StateStopped {
		return fmt.Errorf("container %s is not running", s.Spec.OCI.ID)
	}
	if !all {
		_, err := s.Signal(sig)
		return err
	}
	pids, err := cgroups.Procs(s.Spec)
	if err != nil {
		return err
	}
	if st == "paused" && sig == unix.SIGKILL {
		defer cgroups.Freeze(s.Spec, false) // a frozen task dies once thawed
	}
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone meanwhile
		}
		_ = unix.PidfdSendSignal(fd, sig, nil, 0)
		unix.Close(fd)
	}
	return nil
}

// Delete removes a stopped container: its steps' Cleanup hooks undo what
// it held (its cgroup above all), then its state goes, then the poststop
// hooks run. With force a container still created or running is killed
// first, and waited for.
func Delete(s *container.State, force bool, recipe container.Recipe, out io.Writer) error {
	if st := Status(s); st != specs.StateStopped {
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", s.Spec.OCI.ID, st)
		}
		if st == "paused" {
			_ = cgroups.Freeze(s.Spec, false)
		}
		if _, err := s.Signal(unix.SIGKILL); err != nil {
			return err
		}
		if _, err := s.WaitStopped(10 * time.Second); err != nil {
			return err
		}
		// The holder of a container killed before it started records it
		// and cleans up: wait for it too.
		if _, err := s.WaitHolder(10 * time.Second); err != nil {
			return err
		}
	}
	spec := s.Spec
	if err := container.Remove(s, recipe, out); err != nil {
		return err
	}
	ctx := steps.NewContext(spec, "host", out)
	if err := RunAll(ctx, Poststop, specs.StateStopped); err != nil {
		fmt.Fprintf(out, "mini: warning: %s\n", oneLine(err))
	}
	return nil
}

// Pause freezes the container's processes (the freezer cgroup), Resume
// thaws them.
func Pause(s *container.State) error {
	if Status(s) != specs.StateRunning {
		return fmt.Errorf("container %s is not running", s.Spec.OCI.ID)
	}
	return cgroups.Freeze(s.Spec, true)
}

// Resume thaws a paused container.
func Resume(s *container.State) error {
	if Status(s) != "paused" {
		return fmt.Errorf("container %s is not paused", s.Spec.OCI.ID)
	}
	return cgroups.Freeze(s.Spec, false)
}

// oneLine keeps an error on one line.
func oneLine(err error) string {
	out := []rune{}
	space := false
	for _, r := range err.Error() {
		if r == '\n' || r == '\t' || r == ' ' {
			space = true
			continue
		}
		if space && len(out) > 0 {
			out = append(out, ' ')
		}
		space = false
		out = append(out, r)
	}
	return string(out)
}
