package enter

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/mini/terminal"
)

// openTerminal makes the command's pseudo-terminal from this thread, whose
// root is the container's by now: /dev/ptmx is the container's, so the
// pair is made in its own devpts (step 3), and the command's tty is one of
// its /dev/pts. The slave is given to the user the command runs as, as
// login(1) gives a terminal to its user: on the host that is the uid the
// container's user namespace maps it to.
func openTerminal(pid int, c cred, size *unix.Winsize, trace func(string, ...any)) (master, slave *os.File, err error) {
	master, slave, name, err := terminal.Open("/dev/ptmx")
	if err != nil {
		return nil, nil, err
	}
	uid, gid := hostID(pid, "uid_map", c.uid), hostID(pid, "gid_map", c.gid)
	trace("open(/dev/ptmx), ioctl(TIOCSPTLCK, TIOCGPTPEER): %s, fchown to host %d:%d", name, uid, gid)
	if err := unix.Fchown(int(slave.Fd()), uid, gid); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("fchown %s: %w", name, err)
	}
	if size != nil {
		terminal.SetSize(master, size)
	}
	return master, slave, nil
}

// hostID is the host's id for id in the user namespace of pid, from
// /proc/PID/uid_map or gid_map: "inside outside count" lines. Without a
// user namespace the map is the identity.
func hostID(pid int, file string, id int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + file)
	if err != nil {
		return id
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, _ := strconv.Atoi(f[0])
		out, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[2])
		if id >= in && id < in+n {
			return out + id - in
		}
	}
	return id
}
