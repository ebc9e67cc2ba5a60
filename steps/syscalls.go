package steps

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is mount(2) with a trace line and an error that names the call:
// "mount proc on /x/proc: operation not permitted". Steps call it so every
// mount reads the same in --trace; the flags stay visible at the call site.
func Mount(ctx *Context, source, target, fstype string, flags uintptr, data string) error {
	ctx.Tracef("mount(%q, %q, %q, %s, %q)", source, target, fstype, MountFlagNames(flags), data)
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		what := fstype
		if what == "" {
			what = source
		}
		return fmt.Errorf("mount %s on %s (%s): %w", what, target, MountFlagNames(flags), err)
	}
	return nil
}

// LockedFlags are the flags of the mount path is on that a bind remount
// must keep: nosuid, nodev and noexec, read with statfs(2). In a user
// namespace the kernel locks them on mounts the namespace did not make, and
// refuses a remount that would clear one (mount_namespaces(7)). 0 when path
// cannot be read.
func LockedFlags(path string) uintptr {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return 0
	}
	var flags uintptr
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return flags
}

// Mkdir makes a mount point, and its parents, if there is none: an image
// need not have /proc, /sys or /dev/mqueue.
func Mkdir(ctx *Context, path string, mode os.FileMode) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	ctx.Tracef("mkdir(%q, %#o)", path, mode)
	if err := os.MkdirAll(path, mode); err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}

// MkdirMode makes one directory with exactly mode: mkdir(2) applies the
// umask, so the mode is set again. An existing path is an error
// (os.ErrExist), as mkdir's.
func MkdirMode(path string, mode os.FileMode) error {
	if err := os.Mkdir(path, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// MountFlagNames spells mount flags as mount(2) does: "MS_BIND|MS_REC".
func MountFlagNames(flags uintptr) string {
	names := []struct {
		flag uintptr
		name string
	}{
		{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
		{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_REMOUNT, "MS_REMOUNT"}, {unix.MS_BIND, "MS_BIND"},
		{unix.MS_MOVE, "MS_MOVE"}, {unix.MS_REC, "MS_REC"}, {unix.MS_PRIVATE, "MS_PRIVATE"},
		{unix.MS_SLAVE, "MS_SLAVE"}, {unix.MS_SHARED, "MS_SHARED"}, {unix.MS_STRICTATIME, "MS_STRICTATIME"},
	}
	var out []string
	for _, n := range names {
		if flags&n.flag != 0 {
			out = append(out, n.name)
			flags &^= n.flag
		}
	}
	if flags != 0 {
		out = append(out, fmt.Sprintf("%#x", flags))
	}
	if len(out) == 0 {
		return "0"
	}
	return strings.Join(out, "|")
}
