package terminal

import (
	"io"
	"os"
	"sync"
	"time"
)

// Pipes stands a pipe in for each of files that is a terminal, and copies
// between them: what a process in a container gets in place of the
// caller's terminal when it has no -t. A terminal in the container's hands
// is the caller's keyboard (ioctl TIOCSTI pushes keystrokes into it, which
// the caller's shell runs after mini exits). It returns the files to give
// the process, and what, once the process has started, closes their ends
// in mini and waits (at most a second after stop says so) for the last
// output.
func Pipes(files [3]*os.File) (child [3]*os.File, started func(), stop func(), err error) {
	child = files
	var ends []*os.File
	var outs sync.WaitGroup
	var readers []*os.File
	for fd, f := range files {
		if f == nil || !IsTerminal(f) {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			for _, e := range ends {
				e.Close()
			}
			return files, nil, nil, err
		}
		if fd == 0 {
			child[0], ends = r, append(ends, r)
			go func() {
				io.Copy(w, f)
				w.Close()
			}()
			continue
		}
		child[fd], ends = w, append(ends, w)
		readers = append(readers, r)
		outs.Add(1)
		go func() {
			defer outs.Done()
			io.Copy(f, r)
		}()
	}
	started = func() {
		for _, e := range ends {
			e.Close()
		}
	}
	stop = func() {
		for _, r := range readers {
			_ = r.SetReadDeadline(time.Now().Add(time.Second))
		}
		outs.Wait()
	}
	return child, started, stop, nil
}
