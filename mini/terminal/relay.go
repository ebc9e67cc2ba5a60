package terminal

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"mini/steps"

	"golang.org/x/sys/unix"
)

// Relay copies between the caller's terminal and the master of a
// container's pseudo-terminal: what is typed goes in, what the command
// writes comes out.
type Relay struct {
	master  *os.File
	done    chan struct{}
	restore func()
	winch   chan os.Signal
	once    sync.Once
}

// Start relays master: in (nil for none: run -t without -i) to it, it to
// out. When in is a terminal it is put in raw mode, so that every key goes
// to the container's terminal as it is typed (^C included: the container's
// terminal makes it a SIGINT there), and its window size is passed on, now
// and at every SIGWINCH.
func Start(master, in, out *os.File) *Relay {
	r := &Relay{master: master, done: make(chan struct{}), restore: func() {}}
	size := out
	if in != nil && steps.IsTerminal(in) {
		r.restore = makeRaw(in)
		size = in
	}
	if size != nil && steps.IsTerminal(size) {
		copySize(size, master)
		r.winch = make(chan os.Signal, 1)
		signal.Notify(r.winch, unix.SIGWINCH)
		go func() {
			for range r.winch {
				copySize(size, master)
			}
		}()
	}
	if in != nil {
		// It may outlive the relay, blocked in read(2) on the caller's
		// terminal: mini exits soon after Stop.
		go func() { _, _ = io.Copy(master, in) }()
	}
	go func() {
		// Ends with EIO once no process holds the slave.
		_, _ = io.Copy(out, master)
		close(r.done)
	}()
	return r
}

// Stop waits for the last of the command's output, at most a second after
// it exited (a process it left behind may hold the slave open), and puts
// the caller's terminal back as it was. Call it on every way out.
func (r *Relay) Stop() {
	r.once.Do(func() {
		_ = r.master.SetReadDeadline(time.Now().Add(time.Second))
		<-r.done
		if r.winch != nil {
			signal.Stop(r.winch)
			close(r.winch)
		}
		r.restore()
		r.master.Close()
	})
}

// makeRaw puts terminal f in raw mode, as cfmakeraw(3) does, and returns
// what puts it back.
func makeRaw(f *os.File) func() {
	fd := int(f.Fd())
	saved, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	raw := *saved
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, saved) }
}

// copySize gives to the window size from (TIOCGWINSZ), tty_ioctl(4). The
// kernel sends SIGWINCH to the foreground process group of to's terminal
// when it changes.
func copySize(from, to *os.File) {
	ws, err := unix.IoctlGetWinsize(int(from.Fd()), unix.TIOCGWINSZ)
	if err == nil {
		SetSize(to, ws)
	}
}

// SetSize sets the window size of a pseudo-terminal's master. It reaches
// the fd through SyscallConn: (*os.File).Fd would make the master blocking,
// and its deadlines would stop working.
func SetSize(master *os.File, ws *unix.Winsize) {
	if rc, err := master.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
	}
}
