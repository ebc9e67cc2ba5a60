package steps

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A pipe stands in for the caller's terminal. What a process in a
// container gets as fds 0, 1 and 2 is the caller's own, unless one is a
// terminal: a terminal in the container's hands is the caller's keyboard. A
// program could push keystrokes into it with ioctl(TIOCSTI) (tty_ioctl(4)),
// and the caller's shell would run them as the caller, after mini exits.
// So a pipe stands in for each terminal and mini copies between the two,
// as docker run and docker exec without -t do. (The process also starts a
// session of its own with setsid(2), so no terminal is its controlling
// one; see Init.) The engine does it for the container's command, and
// mini exec (StandIn) for a command it adds.
type stdio struct {
	files   [3]*os.File    // the process's 0, 1 and 2
	fds     [3]uintptr     // the same, as syscall.ProcAttr takes them
	ends    []*os.File     // the process's ends of the pipes, closed in mini once it started
	readers []*os.File     // mini's ends of the output pipes
	outputs sync.WaitGroup // the copies from the output pipes
}

// standIn makes a pipe for each of files that is a terminal, and starts
// copying. ctx may be nil: then nothing is traced.
func standIn(ctx *Context, files [3]*os.File) (*stdio, error) {
	s := &stdio{files: files}
	trace := func(format string, args ...any) {
		if ctx != nil {
			ctx.Tracef(format, args...)
		}
	}
	for fd, f := range files {
		if f == nil || !IsTerminal(f) {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			s.closeEnds()
			return nil, fmt.Errorf("pipe: %w", err)
		}
		if fd == 0 {
			trace("fd 0 is a terminal: the child reads a pipe that mini fills from it")
			s.files[0], s.ends = r, append(s.ends, r)
			go func() {
				io.Copy(w, f)
				w.Close()
			}()
			continue
		}
		trace("fd %d is a terminal: the child writes a pipe that mini copies to it", fd)
		s.files[fd], s.ends, s.readers = w, append(s.ends, w), append(s.readers, r)
		s.outputs.Add(1)
		go func() {
			defer s.outputs.Done()
			io.Copy(f, r)
		}()
	}
	for i, f := range s.files {
		if f != nil {
			s.fds[i] = f.Fd()
		}
	}
	return s, nil
}

// newStdio is the container's command's: mini's own 0, 1 and 2, pipes in
// place of terminals; with -t, mini's own, which the child replaces with a
// terminal of its own before the command runs (mini/terminal).
func newStdio(ctx *Context) (*stdio, error) {
	files := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	if ctx.Spec.Tty {
		return &stdio{files: files, fds: [3]uintptr{0, 1, 2}}, nil
	}
	return standIn(ctx, files)
}

// closeEnds closes the process's ends in mini: the process has its copies
// (or never started), and an output copy sees EOF only once every writer
// is gone.
func (s *stdio) closeEnds() {
	for _, f := range s.ends {
		f.Close()
	}
	s.ends = nil
}

// wait returns once the output has been copied: after the command exits,
// when the last process holding a pipe closes it.
func (s *stdio) wait() { s.outputs.Wait() }

// waitAtMost is wait, for at most limit: a process the command left behind
// may hold a pipe open.
func (s *stdio) waitAtMost(limit time.Duration) {
	for _, r := range s.readers {
		_ = r.SetReadDeadline(time.Now().Add(limit))
	}
	s.outputs.Wait()
}

// StandIn is the pipes for a process mini starts outside the engine (mini
// exec): it returns the files to give the process, started, which closes
// their ends in mini once the process has started, and stop, which waits
// for the last output, at most a second.
func StandIn(files [3]*os.File) (child [3]*os.File, started func(), stop func(), err error) {
	s, err := standIn(nil, files)
	if err != nil {
		return files, nil, nil, err
	}
	return s.files, s.closeEnds, func() { s.waitAtMost(time.Second) }, nil
}

// IsTerminal says whether f is a terminal: TCGETS works only on one
// (ioctl_tty(2)).
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
