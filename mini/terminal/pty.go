// Package terminal gives a container's command a pseudo-terminal, what
// docker's -t does: the command's stdin, stdout and stderr are the slave
// side, its controlling terminal in a session of its own; mini holds the
// master side and relays it to the caller's terminal, put in raw mode, or
// to the log of a detached container. See docs/containers.md, pty(7),
// pts(4).
package terminal

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ptmxDev is /dev/ptmx's device number, 5:2 (devices.txt): a path that
// opens anything else is not the multiplexer.
var ptmxDev = unix.Mkdev(5, 2)

// Open makes a pseudo-terminal pair, as posix_openpt(3), grantpt(3),
// unlockpt(3) and ptsname(3) do, with the ioctls under them: open the
// multiplexer ptmx (path, in the devpts instance whose pair it makes: the
// container's own from step 3), unlock the slave (TIOCSPTLCK), and open it
// from the master (TIOCGPTPEER, Linux 4.13), which needs no look-up of
// /dev/pts/N that could be redirected. It returns the master, the slave and
// the slave's name.
func Open(path string) (master, slave *os.File, name string, err error) {
	// O_NONBLOCK: the open never hangs on a FIFO an image put there, and
	// Go's poller then reads and writes the master without a thread each.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != ptmxDev {
		unix.Close(fd)
		return nil, nil, "", fmt.Errorf("%s is not the pseudo-terminal multiplexer (character device 5:2)", path)
	}
	master = os.NewFile(uintptr(fd), "ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, "", fmt.Errorf("ioctl TIOCSPTLCK: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, "", fmt.Errorf("ioctl TIOCGPTN: %w", err)
	}
	name = "/dev/pts/" + strconv.Itoa(int(n))
	sfd, err := ioctlPeer(fd)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
		// Before Linux 4.13: by name, beside the ptmx that was opened.
		sfd, err = unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		master.Close()
		return nil, nil, "", fmt.Errorf("open the slave of %s: %w", path, err)
	}
	return master, os.NewFile(uintptr(sfd), name), name, nil
}

// ioctlPeer is ioctl(TIOCGPTPEER): a new fd of the slave of master.
func ioctlPeer(master int) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// MakeControlling makes slave the controlling terminal of this process,
// which must lead a session of its own with none yet (setsid(2)), and
// its fds 0, 1 and 2 (tty_ioctl(4), TIOCSCTTY).
func MakeControlling(slave *os.File) error {
	fd := int(slave.Fd())
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("ioctl TIOCSCTTY: %w", err)
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("dup3 %s onto fd %d: %w", slave.Name(), i, err)
		}
	}
	return nil
}
