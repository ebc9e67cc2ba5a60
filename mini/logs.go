package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"mini/mini/container"
)

const logsUsage = "logs [-f] [--tail N] [-t] CONTAINER"

// logsMain prints what a detached container wrote, from its json-file log:
// its stdout to stdout, its stderr to stderr. -f follows until it stops.
func logsMain(args []string) int {
	fs, root := commandFlags("logs", logsUsage)
	follow := fs.BoolP("follow", "f", false, "keep printing what it writes until it stops")
	tail := fs.StringP("tail", "n", "all", "print only the last N lines")
	stamps := fs.BoolP("timestamps", "t", false, "begin each line with the time it was written")
	if err := parseCommand(fs, args, 1, logsUsage); err != nil {
		return commandExit(err)
	}
	last := -1
	if *tail != "all" {
		n, err := strconv.Atoi(*tail)
		if err != nil || n < 0 {
			return commandExit(fmt.Errorf("--tail %q: want a number of lines, or all", *tail))
		}
		last = n
	}
	s, err := find(*root, fs.Arg(0))
	if err != nil {
		return commandExit(err)
	}
	if !s.Detached {
		return commandExit(fmt.Errorf("container %s ran in the foreground: its output went to the terminal of mini run, and mini keeps a log only of a container run with -d", s.Name))
	}
	entries, offset, err := container.ReadLog(s.Spec.Root, s.ID)
	if errors.Is(err, os.ErrNotExist) {
		return commandExit(fmt.Errorf("container %s has no log (%s is gone)", s.Name, container.LogPath(s.Spec.Root, s.ID)))
	}
	if err != nil {
		return commandExit(err)
	}
	if last >= 0 && last < len(entries) {
		entries = entries[len(entries)-last:]
	}
	emit := func(e container.Entry) error {
		w := io.Writer(os.Stdout)
		if e.Stream == "stderr" {
			w = os.Stderr
		}
		if *stamps {
			if _, err := io.WriteString(w, e.Time.Format(time.RFC3339Nano)+" "); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, e.Log)
		return err
	}
	for _, e := range entries {
		if err := emit(e); err != nil {
			return commandExit(err)
		}
	}
	if *follow {
		if err := container.Follow(s, offset, emit); err != nil {
			return commandExit(err)
		}
	}
	return 0
}
