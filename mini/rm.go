package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"mini/mini/container"
)

const rmUsage = "rm [-f] CONTAINER..."

// rmMain removes containers that are not running, as docker rm does: what
// --rm would have removed when they exited (their layers, their state, their
// log). -f kills a running one first.
func rmMain(args []string) int {
	fs, root := commandFlags("rm", rmUsage)
	force := fs.BoolP("force", "f", false, "kill a running container first (SIGKILL)")
	if err := parseCommand(fs, args, 1, rmUsage); err != nil {
		return commandExit(err)
	}
	return each(*root, fs.Args(), func(s *container.State) error {
		if s.Status != container.Exited {
			if !*force {
				return fmt.Errorf("cannot remove container %q: container is running: stop the container before removing or force remove (mini rm -f)", s.Name)
			}
			if _, err := s.Signal(unix.SIGKILL); err != nil {
				return err
			}
		}
		// Whether it was running or has just exited, the mini that holds
		// it has the last word: it records the end and cleans up first.
		if err := waitHolder(s); err != nil {
			return err
		}
		s, err := container.Load(s.Spec.Root, s.ID)
		if errors.Is(err, os.ErrNotExist) {
			return nil // it ran with --rm: gone already
		}
		if err == nil {
			s, err = container.Refresh(s, recipe, os.Stderr)
		}
		if err != nil || s == nil {
			return err
		}
		return container.Remove(s, recipe, os.Stderr)
	})
}
