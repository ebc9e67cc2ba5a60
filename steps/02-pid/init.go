package pid

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"mini/steps"

	"golang.org/x/sys/unix"
)

// --init: a small init as PID 1, what docker's --init (tini) does. The
// command's own PID 1 duties are two it seldom does:
//
//   - Signals. The kernel delivers to PID 1 of a namespace only the
//     signals it has a handler for (pid_namespaces(7)): a command that
//     installs none, sleep, a server written without thought of it,
//     ignores the SIGTERM of mini stop and is killed 10 s later.
//   - Orphans. A process whose parent exits is given to PID 1, which must
//     wait(2) for it when it exits, or it stays a zombie: an entry in the
//     process table, a pid of pids.max, for as long as the container runs.
//
// With --init the engine executes mini itself as PID 1 (the child execs
// /proc/self/exe with the hidden argument steps.InitProcessArg), and Init
// runs the command as its child: it forwards every signal it gets to it,
// reaps every child that exits, and exits as the command did.

// forwarded are the signals Init passes on: all a process may catch but
// SIGCHLD, which is Init's own, and SIGURG, which the Go runtime uses for
// itself. SIGKILL and SIGSTOP cannot be caught: a SIGKILL from the host
// kills Init, and the kernel kills the namespace with it.
var forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS,
	unix.SIGFPE, unix.SIGUSR1, unix.SIGSEGV, unix.SIGUSR2, unix.SIGPIPE, unix.SIGALRM, unix.SIGTERM,
	unix.SIGSTKFLT, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGXCPU,
	unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGPROF, unix.SIGWINCH, unix.SIGIO, unix.SIGPWR, unix.SIGSYS,
}

// Init runs the command path with argv as the child of PID 1 and returns
// the code PID 1 exits with: the command's status, or 128+n when signal n
// killed it.
func Init(path string, argv []string) int {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, append([]os.Signal{unix.SIGCHLD}, forwarded...)...)

	// The command gets a process group of its own, and, on a terminal
	// (run -t), the terminal's foreground: ^C then reaches it from the
	// terminal once, not through Init a second time.
	tty := steps.IsTerminal(os.Stdin)
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Foreground: tty, Ctty: 0},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mini init: exec %s: %v\n", path, err)
		if errors.Is(err, unix.ENOENT) {
			return 127
		}
		return 126
	}
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			_ = unix.Kill(pid, sig.(unix.Signal))
			continue
		}
		if code, done := reap(pid); done {
			return code
		}
	}
	return 125
}

// reap waits for every child that has exited, without blocking (WNOHANG):
// one SIGCHLD may stand for several. It says whether the command was one,
// and how it ended.
func reap(command int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return code, done
		}
		if pid == command {
			code, done = ws.ExitStatus(), true
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
}
