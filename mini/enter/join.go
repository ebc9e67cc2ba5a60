package enter

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// nsKind is a kind of namespace: its name under /proc/PID/ns, and its flag.
type nsKind struct {
	name string
	flag int
}

// kinds are the namespaces a container may have (steps 1 to 7).
var kinds = []nsKind{
	{"user", unix.CLONE_NEWUSER},
	{"mnt", unix.CLONE_NEWNS},
	{"pid", unix.CLONE_NEWPID},
	{"net", unix.CLONE_NEWNET},
	{"ipc", unix.CLONE_NEWIPC},
	{"uts", unix.CLONE_NEWUTS},
	{"cgroup", unix.CLONE_NEWCGROUP},
}

// namespaces lists the namespaces of process pid that are not this
// thread's: those to join. Two processes share a namespace when their
// /proc/PID/ns links name the same one (namespaces(7)). A container below
// step 6, or with --net host, has the host's network, and so on.
func namespaces(pid int) ([]nsKind, error) {
	var out []nsKind
	for _, k := range kinds {
		theirs, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + k.name)
		if err != nil {
			return nil, fmt.Errorf("the container is gone: %w", err)
		}
		ours, err := os.Readlink("/proc/thread-self/ns/" + k.name)
		if err != nil {
			return nil, err
		}
		if theirs != ours {
			out = append(out, k)
		}
	}
	return out, nil
}

// join makes this thread a member of every namespace in ns but the user
// namespace, and returns an fd by which the child joins that one, or -1.
//
// Why the user namespace last: mini exec runs as root on the host, and
// root's privileges hold in every namespace it did not join yet; joining
// the container's user namespace would trade them for those of root in
// the container, which may not reach a namespace that belongs to the host
// (docs/exec.md). And why in the child: setns(CLONE_NEWUSER) is refused
// to a process with more than one thread (fork.go).
//
// Since Linux 5.8 one setns(2) call on a pidfd joins several namespaces at
// once, all or none; before, the kernel says EINVAL, and each is joined by
// its /proc/PID/ns file.
//
// The cgroup namespace waits for the child too when it is born in the
// container's cgroup v2 (CLONE_INTO_CGROUP): the kernel moves a process
// only between cgroups under the mover's cgroup namespace root (ENOENT
// otherwise), and mini exec's own cgroup is not under the container's.
// The child joins it once it is in the container's cgroup: cgroupns is the
// fd for that, or -1.
func join(t Target, ns []nsKind, trace func(string, ...any)) (userns, cgroupns int, err error) {
	flags, user := 0, false
	cgroupns = -1
	for _, k := range ns {
		if k.flag == unix.CLONE_NEWUSER {
			user = true
			continue
		}
		if k.flag == unix.CLONE_NEWCGROUP && t.CgroupDir >= 0 {
			// Opened now: once in the container's mount namespace, /proc
			// is the container's, where the pid is another.
			if cgroupns, err = openNS(t.PID, "cgroup"); err != nil {
				return -1, -1, err
			}
			continue
		}
		flags |= k.flag
	}
	userns, err = joinRest(t, ns, flags, user, trace)
	if err != nil && cgroupns >= 0 {
		unix.Close(cgroupns)
		cgroupns = -1
	}
	return userns, cgroupns, err
}

// joinRest joins the namespaces of flags, and returns the user
// namespace's fd if user.
func joinRest(t Target, ns []nsKind, flags int, user bool, trace func(string, ...any)) (int, error) {
	if flags&unix.CLONE_NEWNS != 0 {
		// setns(CLONE_NEWNS) changes the caller's root and working
		// directory, which the threads of a process share (CLONE_FS): this
		// thread gets its own first, or the kernel says EINVAL.
		trace("unshare(CLONE_FS): this thread's root and directory become its own")
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return -1, fmt.Errorf("unshare CLONE_FS: %w", err)
		}
	}
	byPidfd := true
	if flags != 0 {
		trace("setns(pidfd of %d, %s)", t.PID, steps.FlagNames(uintptr(flags)))
		err := unix.Setns(t.PidFD, flags)
		if errors.Is(err, unix.EINVAL) {
			byPidfd = false
			trace("the kernel joins by pidfd from Linux 5.8 only: each namespace by its /proc/%d/ns file", t.PID)
			err = joinEach(t.PID, ns, flags, trace)
		}
		if err != nil {
			return -1, err
		}
	}
	if !user {
		return -1, nil
	}
	if byPidfd {
		fd, err := unix.FcntlInt(uintptr(t.PidFD), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return -1, fmt.Errorf("dup pidfd: %w", err)
		}
		return fd, nil
	}
	return openNS(t.PID, "user")
}

// joinEach joins each namespace but the user namespace by its file. They
// are all opened first: once in the container's mount namespace, /proc is
// the container's, where the pid is another.
func joinEach(pid int, ns []nsKind, flags int, trace func(string, ...any)) error {
	fds := map[string]int{}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, k := range ns {
		if k.flag&flags == 0 {
			continue
		}
		fd, err := openNS(pid, k.name)
		if err != nil {
			return err
		}
		fds[k.name] = fd
	}
	for _, k := range ns {
		fd, ok := fds[k.name]
		if !ok {
			continue
		}
		trace("setns(/proc/%d/ns/%s, %s)", pid, k.name, steps.FlagNames(uintptr(k.flag)))
		if err := unix.Setns(fd, k.flag); err != nil {
			return fmt.Errorf("setns /proc/%d/ns/%s: %w", pid, k.name, err)
		}
	}
	return nil
}

func openNS(pid int, name string) (int, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/ns/" + name
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return fd, nil
}

// lookPath finds the command in the PATH of its environment, as the
// container's init does (steps.LookPath), from this thread's root.
func lookPath(file string, env []string) (string, error) {
	path, err := steps.LookPath(file, env)
	if err != nil {
		return "", &Error{Code: steps.ExecCode(err), Err: err}
	}
	return path, nil
}

// cstrings makes a NULL-terminated array of C strings, as execve(2) takes.
func cstrings(ss []string) ([]*byte, error) {
	out := make([]*byte, 0, len(ss)+1)
	for _, s := range ss {
		b, err := syscall.BytePtrFromString(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, b)
	}
	return append(out, nil), nil
}

// enterRoot makes the container's / this thread's when joining its mount
// namespace did not: a container without a mount namespace of its own (an
// OCI config that lists none, steps/03-mount/hostns.go) is a chroot(2) in
// the runtime's, and /proc/PID/root is that root (proc(5)). Below step 3
// its root is the host's: nothing to do. chroot(2) changes what the
// threads of a process share (CLONE_FS): this thread gets its own first.
func enterRoot(pid int, ns []nsKind, trace func(string, ...any)) error {
	for _, k := range ns {
		if k.flag == unix.CLONE_NEWNS {
			return nil
		}
	}
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	var theirs, ours unix.Stat_t
	if err := unix.Stat(root, &theirs); err != nil {
		return fmt.Errorf("the container is gone: %w", err)
	}
	if err := unix.Stat("/", &ours); err != nil {
		return fmt.Errorf("stat /: %w", err)
	}
	if theirs.Dev == ours.Dev && theirs.Ino == ours.Ino {
		return nil
	}
	trace("unshare(CLONE_FS), chroot(%q): the container's / is a chroot in this mount namespace", root)
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	return unix.Chdir("/")
}
