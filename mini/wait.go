package main

import (
	"fmt"
	"os"

	"mini/mini/container"
)

const waitUsage = "wait CONTAINER..."

// waitMain waits until each container has stopped and prints its exit
// code, as docker wait does.
func waitMain(args []string) int {
	fs, root := commandFlags("wait", waitUsage)
	if err := parseCommand(fs, args, 1, waitUsage); err != nil {
		return commandExit(err)
	}
	code := 0
	for _, ref := range fs.Args() {
		s, err := find(*root, ref)
		if err == nil && s.Status != container.Exited {
			if _, err = s.WaitHolder(-1); err == nil {
				name, remove := s.Name, s.Spec.Remove
				if s, err = find(*root, s.ID); err != nil && remove {
					err = fmt.Errorf("container %s was removed (--rm) when it exited: its exit code went with it", name)
				}
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
			code = 125
			continue
		}
		fmt.Println(s.ExitCode)
	}
	return code
}
