package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"mini/mini/container"
	"mini/steps"
)

// The create/start split. An orchestrator creates a container, then does
// what needs it to exist (containerd reads its pid and wires its output, a
// CNI plugin gives its network namespace an address, the pod's other
// containers join its namespaces), and only then starts it. So mini create
// runs the engine's phases up to Release: the container has its
// namespaces, its cgroup, its mounts, its terminal, and its init waits at
// the start barrier, just before the command (steps.Spec.WaitStart). The
// init is the child of a mini that holds it meanwhile: the monitor of mini
// run -d (mini/monitor), which for mini create runs Hold. mini start asks
// it, on a socket in the container's directory, to call Engine.Exec. Once
// the command runs the holder exits, and the container's init is handed to
// the nearest subreaper, the caller (containerd's shim and conmon are
// ones), which waits for it: an OCI runtime is a command, not a daemon.

// sockName is the holder's socket, in the container's directory.
const sockName = "start.sock"

// Options are mini create's own options, beside the config.
type Options struct {
	PidFile string    // where to write the init's pid, absolute; "" for none
	Log     io.Writer // where mini's own lines go (--log), not the container's stderr
}

// answer is the holder's answer to mini start.
type answer struct {
	Code int    `json:"code"`
	Msg  string `json:"msg,omitempty"`
}

// Hold creates the container of spec, whose steps recipe gives, answers
// mini create with reply (err nil once it is created), then waits for mini
// start, or for the container's init to die, and returns the holder's exit
// code.
func Hold(spec *steps.Spec, recipe container.Recipe, opts Options, reply func(int, error)) int {
	spec.WaitStart = true
	s, err := container.Create(spec, true)
	if err != nil {
		reply(1, err)
		return 1
	}
	e := steps.NewEngine(spec, recipe(spec), "mini", opts.Log)
	fail := func(err error) int {
		_ = e.Cleanup()
		_ = s.Discard()
		reply(1, err)
		return 1
	}
	for _, phase := range []func() error{e.Validate, e.Prepare, e.Start, e.Attach} {
		if err := phase(); err != nil {
			return fail(err)
		}
	}
	if _, err := e.Release(); err != nil {
		return fail(err)
	}
	// The environment exists; the command has not run: prestart and
	// createRuntime hooks, on the host.
	for _, name := range []string{Prestart, CreateRuntime} {
		if err := RunHooks(e.Context(), name, specs.StateCreated); err != nil {
			return fail(err)
		}
	}
	s.Init = steps.Owner{PID: e.Pid()}
	s.Init.Start, _ = steps.ProcessStart(e.Pid())
	if err := s.Save(); err != nil {
		return fail(err)
	}
	if err := WritePidFile(opts.PidFile, e.Pid()); err != nil {
		return fail(err)
	}
	dir, err := unix.Open(container.Dir(spec.Root, spec.ID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	sock, err := listen(dir)
	unix.Close(dir)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(sock)
	pidfd, err := unix.PidfdOpen(e.Pid(), 0)
	if err != nil {
		return fail(fmt.Errorf("pidfd_open %d: %w", e.Pid(), err))
	}
	defer unix.Close(pidfd)
	reply(0, nil)
	return wait(s, e, sock, pidfd)
}

// wait waits for mini start on sock, or for the init (pidfd) to die.
func wait(s *container.State, e *steps.Engine, sock, pidfd int) int {
	defer os.Remove(filepath.Join(container.Dir(s.Spec.Root, s.ID), sockName))
	for {
		fds := []unix.PollFd{{Fd: int32(sock), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			stopped(s, e, err)
			return 1
		}
		if fds[1].Revents != 0 {
			// Killed before it started (mini kill, delete --force): it is
			// stopped, and what it held is undone at once.
			stopped(s, e, nil)
			return 0
		}
		conn, _, err := unix.Accept4(sock, unix.SOCK_CLOEXEC)
		if err != nil {
			continue
		}
		code, err := start(s, e)
		msg, _ := json.Marshal(answer{Code: code, Msg: errText(err)})
		_, _ = unix.Write(conn, msg)
		unix.Close(conn)
		return code
	}
}

// start lets the command run (Engine.Exec): the poststart hooks run before
// it returns. The container is then running, and this holder's work done.
func start(s *container.State, e *steps.Engine) (int, error) {
	if _, err := e.Exec(); err != nil {
		stopped(s, e, err)
		return 1, err
	}
	s.Status, s.Started = container.Running, time.Now().UTC()
	if err := s.Save(); err != nil {
		return 1, err
	}
	return 0, nil
}

// stopped undoes what the container held and records it stopped; its
// state stays until mini delete, as the spec wants.
func stopped(s *container.State, e *steps.Engine, err error) {
	_ = e.Cleanup()
	ctx := e.Context()
	s.Status, s.Finished, s.Init = container.Exited, time.Now().UTC(), steps.Owner{}
	if ctx.Exited {
		s.ExitCode = steps.ExitCode(ctx.Status)
	}
	if err != nil {
		s.Error = err.Error()
	}
	_ = s.Save()
}

// listen makes the holder's socket in the container's directory dir. The
// directory is named by its fd through /proc/self/fd: a socket's path must
// fit in 108 bytes (unix(7)), a --root's may not.
func listen(dir int) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	path := "/proc/self/fd/" + strconv.Itoa(dir) + "/" + sockName
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", sockName, err)
	}
	if err := unix.Listen(fd, 4); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen: %w", err)
	}
	return fd, nil
}

// Start is mini start's side: it asks the holder of the created container
// s to start it, and returns once its command runs, or why it could not.
func Start(s *container.State) error {
	dir, err := unix.Open(container.Dir(s.Spec.Root, s.ID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), sockName)
	defer f.Close()
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(dir) + "/" + sockName}); err != nil {
		return fmt.Errorf("container %s is not waiting to be started (connect to its holder: %v)", s.Name, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read the holder's answer: %w", err)
	}
	var a answer
	if len(data) == 0 || json.Unmarshal(data, &a) != nil {
		return fmt.Errorf("container %s: its holder exited without an answer", s.Name)
	}
	if a.Code != 0 {
		return errors.New(a.Msg)
	}
	return nil
}

// WritePidFile writes pid to path, as runc does (--pid-file): to a file beside it, then
// rename(2), so a reader never sees half of it.
func WritePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".mini")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
