package security

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// MaskedPaths are docker's: files and directories of /proc and /sys that
// tell about, or act on, the host's hardware and kernel, hidden under an
// empty read-only tmpfs (a directory) or /dev/null (a file). /proc/kcore
// is the kernel's memory, /proc/keys lists the kernel keyring's keys,
// /proc/timer_list and /proc/sched_debug other processes' timers and tasks,
// /sys/firmware the machine's firmware tables.
var MaskedPaths = []string{
	"/proc/acpi",
	"/proc/asound",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
}

// ReadonlyPaths are docker's: parts of /proc that change the whole kernel
// when written, whatever namespace the writer is in, bound read-only.
// /proc/sys holds the sysctls (kernel.core_pattern names a program the host
// runs as root when any process dumps core), /proc/sysrq-trigger reboots
// or crashes the host on one letter.
var ReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// mask hides path: a directory under an empty tmpfs mounted read-only, a
// file under a bind mount of /dev/null, which reads as empty. A path this
// kernel does not have is skipped.
func mask(ctx *steps.Context, path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return steps.Mount(ctx, "tmpfs", path, "tmpfs", unix.MS_RDONLY, "")
	}
	return steps.Mount(ctx, "/dev/null", path, "", unix.MS_BIND, "")
}

// readOnly binds path onto itself and remounts the bind read-only. A bind
// remount must keep the flags the mount under it has (nosuid, nodev,
// noexec: /proc's), or mount(2) refuses it in a user namespace, where they
// are locked (steps.LockedFlags).
func readOnly(ctx *steps.Context, path string) error {
	var st unix.Statfs_t
	err := unix.Statfs(path, &st)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if err := steps.Mount(ctx, path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return steps.Mount(ctx, "", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|steps.LockedFlags(path), "")
}
