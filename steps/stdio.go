package steps

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stdio is what the child gets as fds 0, 1 and 2. mini's own are passed on
// as they are, unless one is a terminal: a terminal in the container's
// hands is the caller's keyboard. A program could push keystrokes into it
// with ioctl(TIOCSTI) (tty_ioctl(4)), and the caller's shell would run them
// as the caller, after mini exits. So a pipe stands in for each terminal
// and mini copies between the two, as docker run without -t does. (The
// child also starts a session of its own with setsid(2), so no terminal is
// its controlling one; see Init.)
type stdio struct {
	fds     [3]uintptr     // the child's 0, 1 and 2
	ends    []*os.File     // the child's ends of the pipes, closed in the host once it started
	outputs sync.WaitGroup // the copies from the container's output pipes
}

// newStdio makes a pipe for each of mini's fds 0, 1 and 2 that is a
// terminal, and starts copying.
func newStdio(ctx *Context) (*stdio, error) {
	s := &stdio{fds: [3]uintptr{0, 1, 2}}
	if ctx.Spec.Tty {
		// -t: the child puts a terminal of its own in their place before
		// the command runs (mini/terminal), relayed by mini.
		return s, nil
	}
	for fd := 0; fd < 3; fd++ {
		if !isTerminal(fd) {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			s.closeEnds()
			return nil, fmt.Errorf("pipe: %w", err)
		}
		if fd == 0 {
			ctx.Tracef("fd 0 is a terminal: the child reads a pipe that mini fills from it")
			s.fds[0], s.ends = r.Fd(), append(s.ends, r)
			go func() {
				io.Copy(w, os.Stdin)
				w.Close()
			}()
			continue
		}
		ctx.Tracef("fd %d is a terminal: the child writes a pipe that mini copies to it", fd)
		s.fds[fd], s.ends = w.Fd(), append(s.ends, w)
		out := os.NewFile(uintptr(fd), "terminal")
		s.outputs.Add(1)
		go func() {
			defer s.outputs.Done()
			io.Copy(out, r)
			r.Close()
		}()
	}
	return s, nil
}

// closeEnds closes the child's ends in the host: the child has its copies
// (or never started), and an output copy sees EOF only once every writer
// is gone.
func (s *stdio) closeEnds() {
	for _, f := range s.ends {
		f.Close()
	}
	s.ends = nil
}

// wait returns once the container's output has been copied: after the
// command exits, when the last process holding a pipe closes it.
func (s *stdio) wait() { s.outputs.Wait() }

// isTerminal says whether fd is a terminal: TCGETS works only on one.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
