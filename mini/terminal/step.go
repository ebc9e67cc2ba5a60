package terminal

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step gives mini run -t's command a pseudo-terminal. It is not one of the
// numbered mechanisms: mini adds it after them when -t is given (recipe),
// and it uses the same hooks. The pair must be made in the child, after
// step 3 has mounted the container's own devpts (docker's /dev/pts/0 is the
// container's), so the child makes it and sends the master to the host on
// a socket pair (unix(7), SCM_RIGHTS), as runc's --console-socket does:
//
//	host  Prepare: socketpair; the child inherits one end (PassFile)
//	child Init, after every step's: open /dev/ptmx, send the master, wait
//	      for the host's go-ahead, then setsid + TIOCSCTTY + the slave as
//	      fds 0, 1 and 2; the engine execs the command
//	host  receives the master, sets the window size, says go, relays
//	host  Cleanup: waits for the last output, puts the terminal back
type Step struct {
	// Relay is what the host does with the master: mini run relays it to
	// its own terminal (Start), the monitor of run -d copies it to the
	// log. It returns what waits for the end of the output. Nil in the
	// child.
	Relay func(master *os.File) (wait func())

	host *os.File
	got  chan struct{}
	wait func()
}

func (*Step) Number() int  { return 0 }
func (*Step) Name() string { return "tty" }

// Prepare makes the socket pair; the child inherits one end.
func (s *Step) Prepare(ctx *steps.Context) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	s.host = os.NewFile(uintptr(fds[0]), "tty socket")
	ctx.Spec.TtyFD = ctx.PassFile(os.NewFile(uintptr(fds[1]), "tty socket"))
	ctx.Tracef("socketpair(AF_UNIX): fd %d in the child, which sends the master of its terminal on it", ctx.Spec.TtyFD)
	s.got = make(chan struct{})
	go s.receive(ctx)
	return nil
}

// receive takes the master from the child, sets it up and lets the child
// go on.
func (s *Step) receive(ctx *steps.Context) {
	defer close(s.got)
	master, err := recvFD(s.host)
	if err != nil {
		return // the child failed before: the engine says why
	}
	ctx.Tracef("recvmsg: the master of the container's terminal")
	if s.Relay != nil {
		s.wait = s.Relay(master)
	}
	_, _ = s.host.Write([]byte{1})
}

// Init makes the pair in the container's devpts and makes its slave the
// command's terminal.
func (s *Step) Init(ctx *steps.Context) error {
	sock := os.NewFile(uintptr(ctx.Spec.TtyFD), "tty socket")
	defer sock.Close()
	master, slave, name, err := Open("/dev/ptmx")
	if err != nil {
		return err
	}
	defer slave.Close()
	ctx.Tracef("open(/dev/ptmx), ioctl(TIOCSPTLCK, TIOCGPTPEER): %s", name)
	err = sendFD(sock, master)
	master.Close()
	if err != nil {
		return err
	}
	// The host's go-ahead: the window size is set, the relay runs.
	if _, err := sock.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("read the host's go-ahead on the terminal socket: %w", err)
	}
	// A session of its own, unless the child has one already, which may
	// then have a controlling terminal of its own.
	if _, err := unix.Setsid(); err != nil && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("setsid: %w", err)
	}
	ctx.Tracef("setsid(), ioctl(%s, TIOCSCTTY), dup3 onto fds 0, 1 and 2", name)
	return MakeControlling(slave)
}

// Cleanup waits for the last output of the command and stops the relay.
func (s *Step) Cleanup(ctx *steps.Context) error {
	if s.host == nil {
		return nil
	}
	// A receive still waiting (the child failed before it sent) ends.
	_ = unix.Shutdown(int(s.host.Fd()), unix.SHUT_RDWR)
	s.host.Close()
	<-s.got
	if s.wait != nil {
		s.wait()
	}
	s.host = nil
	return nil
}

// sendFD sends f's fd on sock (sendmsg(2), SCM_RIGHTS).
func sendFD(sock, f *os.File) error {
	if err := unix.Sendmsg(int(sock.Fd()), []byte{0}, unix.UnixRights(int(f.Fd())), nil, 0); err != nil {
		return fmt.Errorf("sendmsg SCM_RIGHTS: %w", err)
	}
	return nil
}

// recvFD receives one fd on sock.
func recvFD(sock *os.File) (*os.File, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("recvmsg: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("recvmsg: no fd in the message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("recvmsg: want one fd")
	}
	return os.NewFile(uintptr(fds[0]), "ptmx"), nil
}

// WithRelay returns recipe with its terminal step (recipe adds one for -t)
// given relay: the host's side of it.
func WithRelay(recipe func(*steps.Spec) []steps.Step, relay func(master *os.File) (wait func())) func(*steps.Spec) []steps.Step {
	return func(spec *steps.Spec) []steps.Step {
		list := recipe(spec)
		for i, s := range list {
			if _, ok := s.(*Step); ok {
				list[i] = &Step{Relay: relay}
			}
		}
		return list
	}
}
