package enter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cred is who the command runs as, in the container's terms.
type cred struct {
	uid, gid  int
	groups    []uint32 // supplementary groups, from its /etc/group
	setgroups bool     // false when the user namespace forbids setgroups(2)
	home      string
}

// lookupUser resolves -u as docker does, NAME|UID[:GROUP|GID], in the
// container's /etc/passwd and /etc/group (this thread's root is the
// container's by now). Without -u it is root. A number not in the files
// is taken as it is, with group 0 and home /.
func lookupUser(spec string, pid int) (cred, error) {
	c := cred{home: "/", setgroups: setgroupsAllowed(pid)}
	user, group, hasGroup := strings.Cut(spec, ":")
	if user == "" {
		user = "0"
	}
	passwd, err := readRegular("/etc/passwd")
	if err != nil {
		return c, err
	}
	name := ""
	uid, numeric := atoi(user)
	found := false
	for _, f := range entries(passwd, 7) {
		if f[0] == user || numeric && f[2] == user {
			name, found = f[0], true
			c.uid, _ = atoi(f[2])
			c.gid, _ = atoi(f[3])
			c.home = f[5]
			break
		}
	}
	switch {
	case !found && !numeric:
		return c, fmt.Errorf("-u %s: unable to find user %s: no matching entries in the container's passwd file", spec, user)
	case !found:
		c.uid = uid
	}
	groups, err := readRegular("/etc/group")
	if err != nil {
		return c, err
	}
	if hasGroup {
		gid, numeric := atoi(group)
		found := numeric
		for _, f := range entries(groups, 4) {
			if f[0] == group {
				gid, _ = atoi(f[2])
				found = true
			}
		}
		if !found {
			return c, fmt.Errorf("-u %s: unable to find group %s: no matching entries in the container's group file", spec, group)
		}
		c.gid = gid
	}
	if name != "" {
		for _, f := range entries(groups, 4) {
			for _, member := range strings.Split(f[3], ",") {
				if gid, ok := atoi(f[2]); ok && member == name {
					c.groups = append(c.groups, uint32(gid))
				}
			}
		}
	}
	return c, nil
}

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// entries splits the lines of a passwd or group file into n fields.
func entries(data []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Split(sc.Text(), ":"); len(f) >= n {
			out = append(out, f)
		}
	}
	return out
}

// setgroupsAllowed reads /proc/PID/setgroups: "deny" in a user namespace
// whose maps an unprivileged user wrote (a rootless container,
// user_namespaces(7)); there setgroups(2) is refused.
func setgroupsAllowed(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/setgroups")
	return err != nil || strings.TrimSpace(string(data)) != "deny"
}

// readRegular reads a file of the container's, which the image made: it
// must be a regular file, read without blocking (a FIFO in its place would
// hang mini), and at most 1 MiB. A file that is not there reads empty.
func readRegular(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the container's %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("the container's %s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
