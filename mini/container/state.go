// Package container keeps what mini knows of each container between its
// commands: one JSON file per container, <root>/containers/<id>/state.json,
// beside the layers step 8 keeps there, and the container's log. mini run
// writes it, mini ps, logs, stop, exec ... read it. See docs/containers.md.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"mini/steps"
)

// The states of a container, docker's names.
const (
	Created = "created" // recorded; its command has not started yet
	Running = "running" // its command runs
	Exited  = "exited"  // its command ended, or the mini holding it is gone
)

// State is one container as mini records it.
type State struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Image   string    `json:"image"`
	Args    []string  `json:"args"`
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
	// Started and Finished are zero until the command starts and ends.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	ExitCode int       `json:"exit_code"`
	// Error says why the container ended if not by its command alone: mini's
	// own failure, or the mini that held it gone.
	Error string `json:"error,omitempty"`

	// Init is the container's first process, as the host sees it, while it
	// runs; a pid with its start time (steps.Owner), so a reused pid is not
	// taken for it.
	Init steps.Owner `json:"init"`
	// Holder is the mini process that holds the container, whose child Init
	// is: the monitor of run -d (mini/monitor), or mini run itself in the
	// foreground. If it dies, Init dies with it (its parent-death signal),
	// and the next mini command cleans up after both (Refresh).
	Holder   steps.Owner `json:"holder"`
	Detached bool        `json:"detached"` // run -d: the output is in the log

	// Spec is the container as the steps left it when the command started
	// (its address, its layers): exec, inspect and the cleanup read it.
	Spec *steps.Spec `json:"spec"`

	// made are the directories Record made (the container's, and above it
	// what was missing), for Discard; recorded says it wrote the state.
	made     []string
	recorded bool
}

// Dir is where a container's files are: <root>/containers/<id>, the
// directory step 8 keeps its layers in (steps.Context.ContainerDir).
func Dir(root, id string) string { return filepath.Join(root, "containers", id) }

func statePath(root, id string) string { return filepath.Join(Dir(root, id), "state.json") }

// Running says whether the container's command runs: its record says so and
// the process is still there.
func (s *State) Running() bool { return s.Status == Running && s.Init.Alive() }

// Save writes the state atomically: to a temporary file, then rename(2)
// over the old one, so a reader, or a mini killed half-way, sees the old
// state or the new one, never half of one. No fsync: run state lives on a
// tmpfs (/run) and need not outlive a reboot.
func (s *State) Save() error { return s.write(statePath(s.Spec.Root, s.ID)) }

func (s *State) write(path string) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), ".state.json."+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// Load reads the state of container id.
func Load(root, id string) (*State, error) {
	data, err := os.ReadFile(statePath(root, id))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(root, id), err)
	}
	if s.Spec == nil || s.ID != id {
		return nil, fmt.Errorf("%s: not a container's state", statePath(root, id))
	}
	s.Spec.Root = root // the state moves with its --root
	return &s, nil
}

// List reads every container's state under root, the newest first, as
// docker ps lists them. A directory without a state (step 8's layers of a
// run before mini kept state) is not a container and is skipped; one that
// a mini killed while it made it left is removed (sweep).
func List(root string) ([]*State, error) {
	containers := filepath.Join(root, "containers")
	dirs, err := os.ReadDir(containers)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*State
	for _, d := range dirs {
		if strings.HasPrefix(d.Name(), newPrefix) {
			sweep(containers, d.Name())
			continue
		}
		s, err := Load(root, d.Name())
		if err != nil {
			continue
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// removeState deletes the state, the log and then the container's
// directory, if nothing else (step 8's layers) is left in it.
func removeState(root, id string) error {
	var errs []error
	for _, p := range []string{statePath(root, id), LogPath(root, id), LogPath(root, id) + ".1"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(Dir(root, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", Dir(root, id), err))
	}
	return errors.Join(errs...)
}
