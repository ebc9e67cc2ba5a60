package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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
	if !atLeast(release, 5, 11) {
		return fmt.Errorf("overlayfs in a user namespace needs Linux 5.11 or later, and this kernel is %s: run mini --step 4, or upgrade the kernel", release)
	}
	return nil
}

// kernelRelease is uname -r; "" if uname(2) fails, which atLeast passes.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// atLeast says whether a kernel release ("6.1.0-18-amd64") is at least
// major.minor. A release it cannot read passes: mount(2) will tell.
func atLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(leadingDigits(parts[1]))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// leadingDigits is the number s starts with: "11-rc1" -> "11".
func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
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
