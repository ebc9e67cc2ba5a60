package container

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// pidfd opens a pidfd (pidfd_open(2), Linux 5.3) on the process o names. A
// pid alone may name another process once o has exited and the number has
// been reused; a pidfd names one process for good. So: open it, then check
// that the process it names started when o did. It returns -1 when o is gone.
func pidfd(o steps.Owner) (int, error) {
	if o.PID <= 0 {
		return -1, nil
	}
	fd, err := unix.PidfdOpen(o.PID, 0)
	if errors.Is(err, unix.ESRCH) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", o.PID, err)
	}
	if start, err := steps.ProcessStart(o.PID); err != nil || start != o.Start {
		unix.Close(fd)
		return -1, nil // exited meanwhile, or the pid is another process's now
	}
	return fd, nil
}

// Signal sends sig to the container's init with pidfd_send_signal(2). It
// says false when the container is not running.
func (s *State) Signal(sig unix.Signal) (bool, error) {
	fd, err := pidfd(s.Init)
	if err != nil || fd < 0 {
		return false, err
	}
	defer unix.Close(fd)
	err = unix.PidfdSendSignal(fd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pidfd_send_signal %d %s: %w", s.Init.PID, unix.SignalName(sig), err)
	}
	return true, nil
}

// waitGone waits until the process o has exited, at most timeout (forever
// if timeout < 0): a pidfd becomes readable when its process exits
// (pidfd_open(2)), so poll(2) waits without a loop of sleeps. It says
// whether o is gone.
func waitGone(o steps.Owner, timeout time.Duration) (bool, error) {
	fd, err := pidfd(o)
	if err != nil || fd < 0 {
		return fd < 0, err
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		ms := -1
		if timeout >= 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return false, nil
			}
			ms = int(left.Milliseconds()) + 1
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll pidfd of %d: %w", o.PID, err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

// WaitStopped waits until the container's init has exited, at most timeout
// (forever if negative), and says whether it has.
func (s *State) WaitStopped(timeout time.Duration) (bool, error) {
	return waitGone(s.Init, timeout)
}

// WaitHolder waits until the mini that holds the container has exited: it
// has then recorded how the container ended and cleaned up after it. If it
// never returns, the state is reloaded and reclaimed by Refresh.
func (s *State) WaitHolder(timeout time.Duration) (bool, error) {
	return waitGone(s.Holder, timeout)
}

// OpenInit returns a pidfd of the container's init, checked to be that
// process (pidfd): what mini exec joins. It fails when the container is not
// running.
func (s *State) OpenInit() (int, error) {
	fd, err := pidfd(s.Init)
	if err == nil && (fd < 0 || s.Status != Running) {
		if fd >= 0 {
			unix.Close(fd)
		}
		err = fmt.Errorf("container %s is not running", s.Name)
	}
	return fd, err
}
