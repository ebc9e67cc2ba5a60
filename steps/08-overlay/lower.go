package overlay

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// How the image's layers reach the child. The image belongs to host root
// (uid 0 owns /etc/passwd), and in the container's user namespace host uid
// 0 is not mapped: through a plain mount every image file would show as
// nobody, and the container's root could change none of them. An idmapped
// mount (mount_setattr(2), MOUNT_ATTR_IDMAP, Linux 5.12) shows a tree
// through a user namespace's map: host uid N appears as the container's
// uid N, and what the container writes as uid N lands as host uid N... in
// its upper layer, which overlayfs writes without the idmap. overlayfs
// stacks idmapped layers since Linux 5.19.
//
// Only host root may make one, and only for a tree of its mount
// namespace, so the host makes one per layer in Attach, for the child's
// user namespace (/proc/PID/ns/user), as a detached mount:
// open_tree(2) with OPEN_TREE_CLONE copies the layer's mount into a mount
// of its own that is in no tree yet. The host sends the child its fd at
// the barrier; the child attaches it with move_mount(2) onto lower/N in
// its own mount namespace (attachLowers).

// idmapVar, set to 0, makes step 8 use a shifted copy of each layer
// instead of an idmapped mount, as a kernel or filesystem without idmapped
// mounts does: for tests, and to compare the two.
const idmapVar = "MINI_IDMAP"

// idmapped says whether step 8 mounts the image's layers idmapped, and if
// not, why. It needs root (rootless, the image already belongs to the
// caller, whom the namespace maps to root), Linux 5.19 and $MINI_IDMAP
// not 0.
func idmapped(s *steps.Spec, release string) (ok bool, why string) {
	switch {
	case s.Rootless:
		return false, "rootless: the image belongs to the caller, the container's root"
	case os.Getenv(idmapVar) == "0":
		return false, "$" + idmapVar + "=0"
	case !steps.KernelAtLeast(release, 5, 19):
		return false, "overlayfs stacks idmapped layers from Linux 5.19, and this kernel is " + release
	}
	return true, ""
}

// sendLowers gives the child each of the image's layers, top first, as a
// file it sends at the barrier, and records their numbers in the spec.
func sendLowers(ctx *steps.Context, pid int) error {
	s := ctx.Spec
	s.LowerFiles = nil
	if s.Rootless {
		// Without root the host can make no mount at all. It opens each
		// layer as the child sees it, through /proc/PID/root, and the
		// child binds it: the caller's own image, seen by the caller.
		for _, layer := range s.Layers {
			f, err := openIn(pid, layer)
			if err != nil {
				return err
			}
			s.LowerFiles = append(s.LowerFiles, ctx.SendFile(f))
		}
		return nil
	}
	var userns int = -1
	if s.Idmap {
		path := "/proc/" + strconv.Itoa(pid) + "/ns/user"
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer unix.Close(fd)
		userns = fd
	}
	for _, layer := range s.Layers {
		f, err := layerMount(ctx, layer, userns)
		if err != nil {
			return err
		}
		s.LowerFiles = append(s.LowerFiles, ctx.SendFile(f))
	}
	return nil
}

// layerMount makes a detached read-only mount of one layer, idmapped for
// the user namespace userns if it is not -1. A filesystem that cannot be
// idmapped (mount_setattr says EINVAL: NFS, or tmpfs before Linux 6.3)
// gets a shifted copy of the layer instead.
func layerMount(ctx *steps.Context, layer string, userns int) (*os.File, error) {
	src := layer
	if userns < 0 {
		copied, err := shiftedCopy(ctx, layer)
		if err != nil {
			return nil, err
		}
		src = copied
	}
	f, err := openTree(ctx, src)
	if err != nil {
		return nil, err
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	what := "MOUNT_ATTR_RDONLY"
	if userns >= 0 {
		attr.Attr_set |= unix.MOUNT_ATTR_IDMAP
		attr.Userns_fd = uint64(userns)
		what = "MOUNT_ATTR_IDMAP|MOUNT_ATTR_RDONLY, the child's user namespace"
	}
	ctx.Tracef("mount_setattr(fd %d, %s)", f.Fd(), what)
	err = unix.MountSetattr(int(f.Fd()), "", unix.AT_EMPTY_PATH, attr)
	if errors.Is(err, unix.EINVAL) && userns >= 0 {
		f.Close()
		ctx.Tracef("%s cannot be idmapped (mount_setattr: %v): a shifted copy instead", layer, err)
		return layerMount(ctx, layer, -1)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mount_setattr %s (%s): %w", src, what, err)
	}
	return f, nil
}

// openTree is open_tree(2) with OPEN_TREE_CLONE: a detached copy of the
// mount of dir, rooted at dir (Linux 5.2).
func openTree(ctx *steps.Context, dir string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s (OPEN_TREE_CLONE): %w", dir, err)
	}
	ctx.Tracef("open_tree(%q, OPEN_TREE_CLONE) = fd %d", dir, fd)
	return os.NewFile(uintptr(fd), dir), nil
}

// openIn opens path as the child sees it: through /proc/PID/root, the
// child's root in the child's mount namespace (proc(5)). A file opened so
// belongs to that namespace's mounts, so the child may mount on it and
// under it, which it may not do with one the host opened in its own.
func openIn(pid int, path string) (*os.File, error) {
	p := "/proc/" + strconv.Itoa(pid) + "/root" + path
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// AttachLowers runs in the child, in the container's directory: each
// layer the host sent goes onto its mount point lower/N. A detached mount
// is attached with move_mount(2); an open directory (rootless) is bound.
// Exported for the lab (lab/08-overlay).
func AttachLowers(ctx *steps.Context) error {
	s := ctx.Spec
	for i, n := range s.LowerFiles {
		fd, err := ctx.ReceivedFile(n)
		if err != nil {
			return err
		}
		target := lowerName(i)
		if s.Rootless {
			if err := steps.Mount(ctx, "/proc/self/fd/"+strconv.Itoa(fd), target, "", unix.MS_BIND, ""); err != nil {
				return err
			}
			continue
		}
		ctx.Tracef("move_mount(fd %d, %q, MOVE_MOUNT_F_EMPTY_PATH): layer %d", fd, target, i)
		if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("move_mount layer %d onto %s: %w", i, target, err)
		}
	}
	return nil
}
