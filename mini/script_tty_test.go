package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"mini/mini/terminal"
)

// ttyrun [-size ROWSxCOLS] [-input FILE[:MARK]] [-resize ROWSxCOLS:MARK]
// PROG ARG...: run PROG with a terminal of its own, a pseudo-terminal pair
// this test makes, as a user's shell has one: PROG's stdin, stdout and
// stderr are the slave, its controlling terminal. FILE is typed in, at
// once or when the output shows MARK; when the output shows the resize's
// MARK, the window is resized (the kernel sends SIGWINCH).
// What PROG wrote to the terminal becomes stdout; input left unread in the
// terminal's queue (keystrokes pushed with TIOCSTI) is reported on stderr
// as "typed: ...". It fails if PROG left the
// terminal's settings changed (raw mode not undone), and, unless negated,
// if PROG failed.
func cmdTtyRun(ts *testscript.TestScript, neg bool, args []string) {
	size := unix.Winsize{Row: 24, Col: 80}
	var input []byte
	inputMark := ""
	var resize *unix.Winsize
	mark := ""
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-size":
			size = parseWinsize(ts, args[1])
		case "-input":
			f, m, _ := strings.Cut(args[1], ":")
			input, inputMark = []byte(ts.ReadFile(f)), m
		case "-resize":
			s, m, _ := strings.Cut(args[1], ":")
			ws := parseWinsize(ts, s)
			resize, mark = &ws, m
		default:
			ts.Fatalf("ttyrun: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) == 0 {
		ts.Fatalf("usage: ttyrun [-size RxC] [-input FILE] [-resize RxC:MARK] PROG ARG...")
	}
	master, slave, _, err := terminal.Open("/dev/ptmx")
	ts.Check(err)
	defer master.Close()
	terminal.SetSize(master, &size)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	ts.Check(err)

	path := args[0]
	if !strings.Contains(path, "/") {
		if path = lookInPath(ts.Getenv("PATH"), args[0]); path == "" {
			ts.Fatalf("ttyrun: %s: not found in $PATH", args[0])
		}
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Dir = ts.Getenv("WORK")
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "IMAGE", "WORK", "MINI_ROOT", "MINI_BRIDGE", "MINI_SUBNET", "MINI_LAB"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	ts.Check(cmd.Start())

	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			if resize != nil && bytes.Contains(out.Bytes(), []byte(mark)) {
				terminal.SetSize(master, resize)
				resize = nil
			}
			if input != nil && inputMark != "" && bytes.Contains(out.Bytes(), []byte(inputMark)) {
				master.Write(input)
				input = nil
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if len(input) > 0 && inputMark == "" {
		_, err := master.Write(input)
		ts.Check(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err = <-waitErr:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		err = <-waitErr
		ts.Fatalf("ttyrun: %s did not exit within 20s; it wrote %q", args[0], out.String())
	}
	after, terr := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	typed := queuedInput(slave)
	slave.Close()
	// Once no process holds the slave, reading the master says EIO.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		ts.Fatalf("ttyrun: the terminal stays open after %s exited", args[0])
	}
	mu.Lock()
	io.Copy(ts.Stdout(), strings.NewReader(strings.ReplaceAll(out.String(), "\r", "")))
	mu.Unlock()
	if typed != "" {
		fmt.Fprintf(ts.Stderr(), "typed: %q\n", typed)
	}
	ts.Check(terr)
	if *after != *before {
		ts.Fatalf("ttyrun: %s left the terminal's settings changed (lflag %#x, was %#x)", args[0], after.Lflag, before.Lflag)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && !neg:
		ts.Fatalf("ttyrun: %s: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("ttyrun: %s succeeded unexpectedly", args[0])
	case err != nil && !errors.As(err, &ee):
		ts.Fatalf("ttyrun: %v", err)
	}
}

// queuedInput is what waits unread in the terminal's input queue: what a
// program pushed into it with ioctl(TIOCSTI), as if typed, and the caller's
// shell would read and run next.
func queuedInput(tty *os.File) string {
	fd := int(tty.Fd()) // once: Fd puts the file back in blocking mode
	if n, err := unix.IoctlGetInt(fd, unix.TIOCINQ); err != nil || n == 0 {
		return ""
	}
	unix.SetNonblock(fd, true)
	var typed string
	buf := make([]byte, 4096)
	for {
		// In canonical mode a read returns a line at a time.
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			return typed
		}
		typed += string(buf[:n])
	}
}

func parseWinsize(ts *testscript.TestScript, s string) unix.Winsize {
	r, c, ok := strings.Cut(s, "x")
	rows, err1 := strconv.Atoi(r)
	cols, err2 := strconv.Atoi(c)
	if !ok || err1 != nil || err2 != nil {
		ts.Fatalf("ttyrun: size %q: want ROWSxCOLS", s)
	}
	return unix.Winsize{Row: uint16(rows), Col: uint16(cols)}
}

// lookInPath finds an executable in a PATH list.
func lookInPath(path, file string) string {
	for _, dir := range strings.Split(path, ":") {
		p := dir + "/" + file
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}
