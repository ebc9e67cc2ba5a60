package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// checkRoot refuses a --root where no upper layer can live: on overlayfs
// (the kernel refuses an overlay as upperdir; this is mini run inside a
// docker container) or on a read-only filesystem. The directory may not
// exist yet: its nearest existing parent is checked.
func checkRoot(root string) error {
	dir := existingParent(root)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("--root %s: statfs %s: %w", root, dir, err)
	}
	if st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return fmt.Errorf("--root %s is on overlayfs, which cannot hold a container's upper layer: use a --root on ext4, xfs, btrfs or tmpfs (a tmpfs at /run/mini will do)", root)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return fmt.Errorf("--root %s is on a read-only filesystem (%s): mini keeps each container's layers there; use a writable directory", root, dir)
	}
	return nil
}

// existingParent is path, or its nearest parent that exists.
func existingParent(path string) string {
	for {
		if _, err := os.Stat(path); err == nil || path == "/" {
			return path
		}
		path = filepath.Dir(path)
	}
}

// checkKernel refuses an overlay in a user namespace on a kernel older than
// 5.11, which allows overlayfs to be mounted only in the initial one.
func checkKernel(release string) error {
	if !steps.KernelAtLeast(release, 5, 11) {
		return fmt.Errorf("overlayfs in a user namespace needs Linux 5.11 or later, and this kernel is %s: run mini --step 4, or upgrade the kernel", release)
	}
	return nil
}

// Explain adds why to a failed overlay mount, where the kernel's own reason
// went to its log (dmesg), not to us. Exported for the lab (lab/08-overlay).
func Explain(err error, image string) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case unix.ENODEV:
		return " (this kernel has no overlayfs: load it with 'modprobe overlay')"
	case unix.EINVAL:
		var st unix.Statfs_t
		if unix.Statfs(image, &st) == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC {
			return " (the image " + image + " is itself on overlayfs, which the kernel stacks at most 2 deep, FILESYSTEM_MAX_STACK_DEPTH: copy the image onto a plain filesystem such as ext4 or tmpfs)"
		}
		return " (dmesg has the kernel's reason)"
	}
	return ""
}
