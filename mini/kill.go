package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/mini/container"
)

const killUsage = "kill [-s SIGNAL] CONTAINER..."

// killMain sends a signal, SIGKILL by default, to the init of each
// container, as docker kill does; it does not wait.
func killMain(args []string) int {
	fs, root := commandFlags("kill", killUsage)
	signame := fs.StringP("signal", "s", "KILL", "signal to send: a name (KILL, SIGTERM, hup) or a number")
	if err := parseCommand(fs, args, 1, killUsage); err != nil {
		return commandExit(err)
	}
	sig, err := parseSignal(*signame)
	if err != nil {
		return commandExit(err)
	}
	return each(*root, fs.Args(), func(s *container.State) error {
		sent := false
		if s.Status == container.Running {
			if sent, err = s.Signal(sig); err != nil {
				return err
			}
		}
		if !sent {
			return fmt.Errorf("cannot kill container %s: it is not running", s.Name)
		}
		return nil
	})
}

// parseSignal reads a signal as docker does: a name with or without SIG, in
// any case, or a number.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q: want a name such as TERM, SIGKILL or HUP, or a number", s)
}
