package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"mini/mini/container"
	"mini/mini/terminal"
	"mini/steps"
)

// Parse turns mini run's arguments into the container's spec, with the
// given id, and the cap of its log (--log-opt max-size).
type Parse func(args []string, id string) (spec *steps.Spec, logMax int64, err error)

// Hold holds a container of mini create (mini/oci): args are mini
// create's, id the container's. It answers with Reply, once.
type Hold func(args []string, id string) int

// Main is the monitor: it reads the request of mini run -d, records the
// container, runs it with its output going to the log, answers once the
// command runs (or why it could not), and returns the exit code once the
// container has ended and everything is recorded and cleaned up. A
// request of mini create goes to hold.
func Main(parse Parse, recipe container.Recipe, hold Hold) int {
	req, err := readRequest()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mini: %v\n", err)
		return 125
	}
	if req.Hold {
		return hold(req.Args, req.ID)
	}
	spec, logMax, err := parse(req.Args, req.ID)
	if err != nil {
		reply(answer{Code: 125, Msg: oneLine(err)})
		return 125
	}
	// The monitor may outlive the directory it was started in; it holds
	// none (the spec's paths are absolute).
	_ = os.Chdir("/")
	s, err := container.Create(spec, true)
	if err == nil {
		err = s.Record() // now: the log goes in its directory
	}
	if err != nil {
		reply(answer{Code: 125, Msg: oneLine(err)})
		return 125
	}
	log, err := container.CreateLog(spec.Root, spec.ID, logMax)
	if err != nil {
		s.Discard()
		reply(answer{Code: 125, Msg: oneLine(err)})
		return 125
	}
	defer log.Close()
	out, err := redirect(log)
	if err != nil {
		s.Discard()
		reply(answer{Code: 125, Msg: oneLine(err)})
		return 125
	}

	// With -t the command's output comes from the master of its terminal,
	// as one stream (docker's too): stdout.
	recipe = terminal.WithRelay(recipe, func(master *os.File) func() {
		done := make(chan struct{})
		go func() {
			_ = log.Copy("stdout", master)
			close(done)
		}()
		return func() {
			_ = master.SetReadDeadline(time.Now().Add(time.Second))
			<-done
			master.Close()
		}
	})
	answered := false
	code, err := container.Run(s, recipe, os.Stderr, func(*container.State) {
		reply(answer{})
		answered = true
		// From now on the monitor waits, for as long as the container
		// runs: what the start needed goes back to the kernel.
		debug.FreeOSMemory()
	})
	if !answered {
		if err == nil {
			err = errors.New("the container did not start")
		}
		reply(answer{Code: code, Msg: oneLine(err)})
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "mini: %s\n", oneLine(err)) // into the log
	}
	out.close()
	return code
}

// streams are the container's stdout and stderr, read by the monitor.
type streams struct {
	r    [2]*os.File
	done sync.WaitGroup
}

// redirect makes fds 1 and 2 of the monitor pipes whose other ends it
// reads into log: the engine's child inherits them, and so the command's
// output goes to the log, and so do the monitor's own lines (a step's note,
// --trace).
func redirect(log *container.LogWriter) (*streams, error) {
	s := &streams{}
	for i, stream := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("pipe: %w", err)
		}
		// dup3 without O_CLOEXEC: fd 1 or 2 is inherited.
		if err := unix.Dup3(int(w.Fd()), i+1, 0); err != nil {
			return nil, fmt.Errorf("dup3 onto fd %d: %w", i+1, err)
		}
		w.Close()
		s.r[i] = r
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			if err := log.Copy(stream, r); err != nil {
				// The log cannot be written (a full disk): keep reading, so
				// the command does not block on a full pipe.
				_, _ = io.Copy(io.Discard, r)
			}
		}()
	}
	return s, nil
}

// close ends the streams once the container has exited: the monitor's own
// write ends become /dev/null, and what is still in the pipes is read. A
// process that outlived the container (possible before step 2, where no PID
// namespace takes the rest down with the command) may hold a write end
// open for ever: the readers give up a second later.
func (s *streams) close() {
	if null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		unix.Dup3(null, 1, 0)
		unix.Dup3(null, 2, 0)
		unix.Close(null)
	}
	for _, r := range s.r {
		_ = r.SetReadDeadline(time.Now().Add(time.Second))
	}
	s.done.Wait()
}
