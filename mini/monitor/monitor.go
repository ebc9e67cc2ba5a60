// Package monitor is the process that holds a detached container, the part
// containerd-shim and conmon play for docker and podman: mini run -d starts
// it, detached from the caller (a session of its own, no terminal, stdin
// /dev/null), and returns once the command runs. The monitor runs the
// container through the same code as a foreground run (container.Run, then
// steps.Run): it is the container's parent, holds it by a pidfd, writes its
// output to the json-file log, records its exit status and cleans up per
// --rm. See docs/containers.md.
package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Command is the hidden first argument that makes mini a monitor.
const Command = "monitor"

// The monitor inherits two pipes from mini run -d: fd 3 carries the
// request, fd 4 the answer.
const (
	requestFD = 3
	answerFD  = 4
)

// request is what mini run -d asks of its monitor: run the container these
// arguments of mini run describe, with this id. The monitor parses them
// itself, in the caller's directory and environment, exactly as a
// foreground run would (an IMAGE or -v path relative to it, -e KEY taking
// the caller's value), so that both run the same container.
type request struct {
	Args []string `json:"args"`
	ID   string   `json:"id"`
	// Hold is set by mini create: the monitor holds the container until
	// mini start (Hold).
	Hold bool `json:"hold,omitempty"`
}

// answer is the monitor's one message: Code 0 once the command runs, or
// the exit code and the one line of a run that failed before.
type answer struct {
	Code int    `json:"code"`
	Msg  string `json:"msg,omitempty"`
}

// Start is mini run -d's side: it starts a monitor for the container that
// args (mini run's own) describe, with id, and waits until the command runs
// or has failed. It returns what a foreground run would return then: the
// exit code and the error of a run that failed before its command started.
func Start(args []string, id string) (int, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 125, err
	}
	defer null.Close()
	return start(request{Args: args, ID: id}, [3]*os.File{null, null, null})
}

// StartHolder is mini create's side: it starts a monitor that holds the
// container mini create's args describe (Hold), with stdio as the
// container's: an OCI runtime's caller (containerd's shim, conmon) gives
// the container its stdin, stdout and stderr as the runtime's own. It
// returns once the container is created, waiting for mini start, or has
// failed.
func StartHolder(args []string, id string, stdio [3]*os.File) (int, error) {
	return start(request{Args: args, ID: id, Hold: true}, stdio)
}

func start(req request, stdio [3]*os.File) (int, error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return 125, fmt.Errorf("pipe: %w", err)
	}
	defer reqR.Close()
	defer reqW.Close()
	ansR, ansW, err := os.Pipe()
	if err != nil {
		return 125, fmt.Errorf("pipe: %w", err)
	}
	defer ansR.Close()
	defer ansW.Close()

	// argv[0] is "mini", as for the engine's child: under the tests
	// /proc/self/exe is the test binary, which runs mini by that name.
	proc, err := os.StartProcess("/proc/self/exe", []string{"mini", Command}, &os.ProcAttr{
		Files: []*os.File{stdio[0], stdio[1], stdio[2], reqR, ansW}, // fds 3 and 4: the pipes
		// A session of its own: no controlling terminal, out of the
		// caller's process group, so a Ctrl-C or a hangup of the caller's
		// terminal does not reach it (setsid(2), credentials(7)).
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return 125, fmt.Errorf("start the monitor: %w", err)
	}
	// The monitor is not waited for: it outlives this process, and init
	// (or the nearest subreaper) reaps it.
	proc.Release()
	reqR.Close()
	ansW.Close()
	if err := json.NewEncoder(reqW).Encode(req); err != nil {
		return 125, fmt.Errorf("write to the monitor: %w", err)
	}
	reqW.Close()
	data, err := io.ReadAll(ansR)
	if err != nil {
		return 125, fmt.Errorf("read from the monitor: %w", err)
	}
	var a answer
	if len(data) == 0 || json.Unmarshal(data, &a) != nil {
		if req.Hold {
			return 125, errors.New("the mini that holds the container exited before it was created")
		}
		return 125, errors.New("the monitor exited before the container started: run without -d to see why")
	}
	if a.Code != 0 || a.Msg != "" {
		return a.Code, errors.New(a.Msg)
	}
	return 0, nil
}

// isPipe says whether fd is an open pipe: what mini run -d gives its monitor.
func isPipe(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO
}

// readRequest reads mini run -d's request from fd 3.
func readRequest() (request, error) {
	var r request
	if !isPipe(requestFD) || !isPipe(answerFD) {
		return r, errors.New("'monitor' is internal: mini run -d starts it")
	}
	// Neither pipe is for the container: close them on exec.
	unix.CloseOnExec(requestFD)
	unix.CloseOnExec(answerFD)
	f := os.NewFile(requestFD, "request pipe")
	defer f.Close()
	if err := json.NewDecoder(f).Decode(&r); err != nil {
		return r, fmt.Errorf("read the request: %w", err)
	}
	return r, nil
}

// Reply is how a holder answers mini create: err nil once the container
// is created, else the exit code and error of a create that failed.
func Reply(code int, err error) {
	if err != nil {
		reply(answer{Code: code, Msg: oneLine(err)})
		return
	}
	reply(answer{})
}

// reply sends the answer on fd 4 and closes it: mini run -d returns.
func reply(a answer) {
	f := os.NewFile(answerFD, "answer pipe")
	_ = json.NewEncoder(f).Encode(a)
	f.Close()
}

// oneLine keeps an error on one line, as every mini error is.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
