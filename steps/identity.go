package steps

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// --user USER[:GROUP] is a process attribute, not a namespace: it works at
// every step. The host checks its form (CheckUser); the child resolves it
// in the container's own /etc/passwd and /etc/group, once / is the image
// (SwitchUser), as runc does for docker, and becomes that user just before
// it executes the command.

// maxID is the largest user or group id: ids are 32-bit, and -1 means
// "unchanged" to setresuid(2), so the kernel's ids stop below 2^31 in
// practice, as runc's do.
const maxID = 1<<31 - 1

// maxIDFile is the most of /etc/passwd or /etc/group mini reads: an image's
// file is as hostile as the rest of it.
const maxIDFile = 4 << 20

// Identity is who the command runs as.
type Identity struct {
	UID, GID int
	Groups   []int  // setgroups(2): the primary group first, as docker sets them
	Home     string // $HOME unless -e sets it
}

// CheckUser checks --user's form on the host, before anything is made:
// USER[:GROUP], each a name or a number.
func CheckUser(user string) error {
	if user == "" {
		return nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	if u == "" || hasGroup && g == "" || strings.Contains(g, ":") || strings.ContainsAny(user, " \t\n") {
		return fmt.Errorf("--user %q: want USER[:GROUP], a name or a number each (root, 1000, nobody:nogroup, 1000:1000)", user)
	}
	for _, part := range []string{u, g} {
		if n, err := strconv.Atoi(part); err == nil && (n < 0 || n > maxID) {
			return fmt.Errorf("--user %q: %d is not an id: ids go from 0 to %d", user, n, maxID)
		}
	}
	return nil
}

// LookupUser resolves USER[:GROUP] against the contents of a passwd(5) and a
// group(5) file, as docker does (runc's GetExecUser): a number needs no
// entry (its group is then 0 and its home /); a name must have one. Without
// GROUP the user's group is its passwd entry's, and its supplementary groups
// are the groups that list it by name; with GROUP, that group alone.
// flag names the flag in errors: --user, or -u for mini exec.
func LookupUser(flag, user string, passwd, group []byte) (Identity, error) {
	id := Identity{Home: "/"}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, uidErr := strconv.Atoi(u)
	name := ""
	found := false
	for _, f := range idLines(passwd, 7) { // name:password:uid:gid:gecos:home:shell
		n, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		if uidErr == nil && n == uid || uidErr != nil && f[0] == u {
			name, id.UID, id.GID, id.Home, found = f[0], n, gid, f[5], true
			break // the first entry wins, as in runc
		}
	}
	if !found {
		if uidErr != nil {
			return id, fmt.Errorf("%s %s: no user %q in the container's /etc/passwd (a number needs no entry)", flag, user, u)
		}
		id.UID = uid
	}
	if id.Home == "" {
		id.Home = "/"
	}

	gid, gidErr := strconv.Atoi(g)
	var extra []int
	groupFound := false
	for _, f := range idLines(group, 4) { // name:password:gid:members
		n, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		switch {
		case hasGroup && !groupFound && (gidErr == nil && n == gid || gidErr != nil && f[0] == g):
			id.GID, groupFound = n, true
		case !hasGroup && name != "" && memberOf(f[3], name):
			extra = append(extra, n)
		}
	}
	if hasGroup && !groupFound {
		if gidErr != nil {
			return id, fmt.Errorf("%s %s: no group %q in the container's /etc/group (a number needs no entry)", flag, user, g)
		}
		id.GID = gid
	}
	id.Groups = []int{id.GID}
	for _, n := range extra {
		if !containsInt(id.Groups, n) {
			id.Groups = append(id.Groups, n)
		}
	}
	return id, nil
}

// idLines splits a passwd or group file into lines of at least n fields,
// skipping comments and lines too short to be entries.
func idLines(data []byte, n int) [][]string {
	var out [][]string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= n {
			out = append(out, f)
		}
	}
	return out
}

func memberOf(members, name string) bool {
	for _, m := range strings.Split(members, ",") {
		if strings.TrimSpace(m) == name {
			return true
		}
	}
	return false
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// SwitchUser runs in the child after every step's Init (and step 9's
// PreUser), in the container's /: it resolves --user and becomes that user
// with setgroups(2), setgid(2) and setuid(2), in that order (once the uid
// is not 0 the others would be refused). It also sets $HOME, unless -e
// did: the user's home, /root without --user.
func SwitchUser(ctx *Context) error {
	spec := ctx.Spec
	if spec.User == "" {
		spec.Env = defaultEnv(spec.Env, "HOME", "/root")
		return nil
	}
	id, err := ResolveUser("--user", spec.User)
	if err != nil {
		return err
	}
	if spec.OCI != nil {
		// An OCI config's process.user.additionalGids come beside the
		// group, as runc sets them.
		id.Groups = append(id.Groups, spec.OCI.AdditionalGids...)
	}
	spec.Env = defaultEnv(spec.Env, "HOME", id.Home)

	// In a user namespace whose setgroups is "deny" (a rootless run's,
	// user_namespaces(7)) the kernel refuses setgroups: the groups stay.
	if deny, _ := os.ReadFile("/proc/self/setgroups"); strings.TrimSpace(string(deny)) == "deny" {
		ctx.Tracef("setgroups: denied in this user namespace (rootless): the supplementary groups stay")
	} else {
		ctx.Tracef("setgroups(%v)", id.Groups)
		if err := unix.Setgroups(id.Groups); err != nil {
			return fmt.Errorf("setgroups %v: %w%s", id.Groups, err, unmappedHint(err, "gid", spec.GIDMap))
		}
	}
	ctx.Tracef("setgid(%d)", id.GID)
	if err := unix.Setgid(id.GID); err != nil {
		return fmt.Errorf("setgid %d: %w%s", id.GID, err, unmappedHint(err, "gid", spec.GIDMap))
	}
	ctx.Tracef("setuid(%d)", id.UID)
	if err := unix.Setuid(id.UID); err != nil {
		return fmt.Errorf("setuid %d: %w%s", id.UID, err, unmappedHint(err, "uid", spec.UIDMap))
	}
	return nil
}

// unmappedHint explains EINVAL: an id the user namespace does not map.
func unmappedHint(err error, kind string, maps []IDMap) string {
	if !errors.Is(err, unix.EINVAL) {
		return ""
	}
	var covers []string
	for _, m := range maps {
		covers = append(covers, fmt.Sprintf("%d to %d", m.ContainerID, m.ContainerID+m.Size-1))
	}
	return fmt.Sprintf(" (the container's user namespace maps %ss %s only: use one of those, or see --%smap)", kind, strings.Join(covers, ", "), kind)
}

// ResolveUser resolves USER[:GROUP] (LookupUser) in the container's own
// /etc/passwd and /etc/group: this process's / is the container's by now.
// The container's init (SwitchUser) and mini exec both call it.
func ResolveUser(flag, user string) (Identity, error) {
	passwd, err := readIDFile("/etc/passwd")
	if err == nil {
		var group []byte
		if group, err = readIDFile("/etc/group"); err == nil {
			return LookupUser(flag, user, passwd, group)
		}
	}
	return Identity{}, fmt.Errorf("%s %s: %w", flag, user, err)
}

// readIDFile reads the container's /etc/passwd or /etc/group: a regular
// file (not a FIFO that would block, nor a device), at most maxIDFile
// bytes. A missing file is empty: numeric ids need none.
func readIDFile(path string) ([]byte, error) {
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
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("the container's %s is not a regular file", path)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(f, maxIDFile+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if b.Len() > maxIDFile {
		return nil, fmt.Errorf("the container's %s is larger than %d MiB", path, maxIDFile>>20)
	}
	return b.Bytes(), nil
}

// defaultEnv sets KEY=value in env unless env has KEY already.
func defaultEnv(env []string, key, value string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return env
		}
	}
	return append(env, key+"="+value)
}
