package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"mini/mini/container"
)

const stopUsage = "stop [-t SECONDS] [-s SIGNAL] CONTAINER..."

// holderTimeout bounds how long a command waits for the mini that holds a
// container to record its end and clean up once the container has exited.
const holderTimeout = time.Minute

// stopMain stops containers as docker stop does: SIGTERM to the
// container's init, then, if it is still there after the grace period,
// SIGKILL. A PID 1 without a handler for SIGTERM ignores it (the kernel
// does not deliver it a signal it does not handle, pid_namespaces(7)), so
// such a container takes the whole grace period and exits 137.
func stopMain(args []string) int {
	fs, root := commandFlags("stop", stopUsage)
	grace := fs.IntP("time", "t", 10, "seconds to wait before killing it")
	signame := fs.StringP("signal", "s", "SIGTERM", "signal to stop it with")
	if err := parseCommand(fs, args, 1, stopUsage); err != nil {
		return commandExit(err)
	}
	sig, err := parseSignal(*signame)
	if err != nil {
		return commandExit(err)
	}
	if *grace < 0 {
		return commandExit(fmt.Errorf("-t %d: want a number of seconds, 0 or more", *grace))
	}
	return each(*root, fs.Args(), func(s *container.State) error {
		return stop(s, sig, time.Duration(*grace)*time.Second)
	})
}

// stop signals the container with sig, kills it after grace, and returns
// once the mini that holds it has recorded how it ended. A container that
// is not running is stopped already.
func stop(s *container.State, sig unix.Signal, grace time.Duration) error {
	if s.Status == container.Running {
		sent, err := s.Signal(sig)
		if err != nil {
			return err
		}
		gone := !sent
		if sent {
			if gone, err = s.WaitStopped(grace); err != nil {
				return err
			}
		}
		if !gone {
			if _, err := s.Signal(unix.SIGKILL); err != nil {
				return err
			}
		}
	}
	return waitHolder(s)
}

// waitHolder waits until the mini that holds s has exited, having recorded
// the container's end and cleaned up.
func waitHolder(s *container.State) error {
	done, err := s.WaitHolder(holderTimeout)
	if err != nil {
		return err
	}
	if !done {
		return fmt.Errorf("container %s: the mini that holds it (pid %d) has not exited %v after the container: see its log", s.Name, s.Holder.PID, holderTimeout)
	}
	return nil
}
