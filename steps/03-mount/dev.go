package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// devices are the nodes every program expects in /dev (the same set docker
// and the OCI runtime spec give a container), with their major:minor.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// links are /dev's usual symlinks into /proc/self/fd.
var links = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	{"pts/ptmx", "ptmx"},
}

// MakeDev gives the container a fresh /dev on a tmpfs: a few device nodes,
// its own devpts, and the host's /dev/shm (step 4 gives it its own).
// Exported for the lab (lab/03-mount), whose Init calls it.
func MakeDev(ctx *steps.Context, root string) error {
	if err := steps.MountIn(ctx, "tmpfs", root, "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k", steps.MakeDir(ctx, 0o755)); err != nil {
		return err
	}
	// From here on, everything is made in that tmpfs, reached through a
	// file descriptor of its root: nothing of the image's is on the way.
	devDir, err := steps.OpenInRoot(ctx, root, "/dev", nil)
	if err != nil {
		return err
	}
	defer devDir.Close()
	dev := steps.FDPath(devDir)
	if err := makeNodes(ctx, dev); err != nil {
		return err
	}
	// A devpts instance of its own: ptys made in the container are not
	// listed on the host (devpts(5), "newinstance").
	pts := filepath.Join(dev, "pts")
	if err := steps.Mkdir(ctx, pts, 0o755); err != nil {
		return err
	}
	if err := steps.Mount(ctx, "devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	// Without an IPC namespace the container shares the host's IPC objects,
	// and POSIX shared memory lives in /dev/shm, so it shares that too, as
	// docker run --ipc=host does. Step 4 mounts a tmpfs of its own over it.
	shm := filepath.Join(dev, "shm")
	if err := steps.Mkdir(ctx, shm, 0o1777); err != nil {
		return err
	}
	return steps.Mount(ctx, "/dev/shm", shm, "", unix.MS_BIND|unix.MS_REC, "")
}

// makeNodes makes the device nodes every container gets, and /dev's usual
// symlinks, in dev, the container's /dev (mini's own tmpfs, or the one an
// OCI config mounts there) reached through a file descriptor.
func makeNodes(ctx *steps.Context, dev string) error {
	ctx.Tracef("%s is the container's /dev", dev)
	for _, d := range devices {
		if err := makeNode(ctx, filepath.Join(dev, d.name), "/dev/"+d.name, unix.S_IFCHR|0o666, d.major, d.minor); err != nil {
			return err
		}
	}
	for _, l := range links {
		ctx.Tracef("symlink(%q, %q)", l[0], "/dev/"+l[1])
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// makeNode creates a device node at path with mknod(2), mode being its
// type and permissions. In a user namespace the kernel refuses mknod
// (EPERM: a device node would let the container's root reach what the
// host's root has not given it), so there, without asking again six times,
// the node is a bind mount of the host's (host), which is what rootless
// runtimes do; the same if mknod is refused anywhere else.
func makeNode(ctx *steps.Context, path, host string, mode uint32, major, minor uint32) error {
	if !ctx.Spec.UserNS() {
		ctx.Tracef("mknod(%q, %#o, %d:%d)", path, mode, major, minor)
		err := unix.Mknod(path, mode, int(unix.Mkdev(major, minor)))
		if errors.Is(err, unix.EEXIST) && isNode(path, mode, major, minor) {
			// A /dev no config mount covers is the rootfs's own: it keeps
			// the nodes of the bundle's last container (runc's too).
			err = nil
		}
		if err == nil {
			// mknod applies the umask; the mode is what was asked.
			return os.Chmod(path, os.FileMode(mode&0o777))
		}
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mknod %s: %w (the root filesystem has something else there: remove it)", host, err)
		}
		// Without a mount namespace the bind would be one more mount on
		// the host, which nothing records (hostns.go): the error stands.
		if !errors.Is(err, unix.EPERM) || ctx.Spec.OCI.InheritsMounts() {
			return fmt.Errorf("mknod %s: %w", path, err)
		}
	}
	// An empty file to bind over: open(2) and close(2), nothing more.
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	unix.Close(fd)
	return steps.Mount(ctx, host, path, "", unix.MS_BIND, "")
}

// isNode says whether path is already the device node mode (its type)
// major:minor; lstat(2), so that a symlink in an image is never taken for
// one.
func isNode(path string, mode, major, minor uint32) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == mode&unix.S_IFMT && st.Rdev == unix.Mkdev(major, minor)
}

// configDevices makes the device nodes an OCI config lists
// (linux.devices), each in root, with its mode and owner.
func configDevices(ctx *steps.Context, root string, list []steps.Device) error {
	types := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO}
	for _, d := range list {
		dir, err := steps.OpenInRoot(ctx, root, filepath.Dir(d.Path), steps.MakeDir(ctx, 0o755))
		if err != nil {
			return err
		}
		path := filepath.Join(steps.FDPath(dir), filepath.Base(d.Path))
		_ = os.Remove(path) // one of the defaults, made again as the config says
		err = makeNode(ctx, path, d.Path, types[d.Type]|d.Mode&0o7777, uint32(d.Major), uint32(d.Minor))
		if err == nil && !ctx.Spec.UserNS() {
			err = os.Lchown(path, d.UID, d.GID)
		}
		dir.Close()
		if err != nil {
			return fmt.Errorf("linux.devices %s: %w", d.Path, err)
		}
	}
	return nil
}
