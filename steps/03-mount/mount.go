// Package mount is step 3: a mount namespace and pivot_root make the image
// the container's /, with its own /proc, /sys and /dev. See docs/03-mount.md,
// mount_namespaces(7) and pivot_root(2).
package mount

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is step 3.
type Step struct{}

func (Step) Number() int  { return 3 }
func (Step) Name() string { return "mount" }

// CloneFlags: the child gets a copy of the host's mount table. Mounts it
// makes from now on are its own, once / is made private (see Init).
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	o := ctx.Spec.OCI
	if o.InheritsMounts() {
		ctx.Tracef("no CLONE_NEWNS: the child stays in this mount namespace (hostns.go)")
		return 0
	}
	if !o.NewNS("mnt") {
		ctx.Tracef("no CLONE_NEWNS: the child joins the mount namespace the config names")
		return 0
	}
	ctx.Tracef("CLONE_NEWNS: a new mount namespace")
	return unix.CLONE_NEWNS
}

// Validate parses -v, or an OCI config's mounts, on the host, before
// anything is made.
func (Step) Validate(ctx *steps.Context) error {
	for _, v := range ctx.Spec.VolumeFlag {
		vol, err := ParseVolume(v)
		if err != nil {
			return err
		}
		ctx.Spec.Volumes = append(ctx.Spec.Volumes, vol)
	}
	if o := ctx.Spec.OCI; o != nil {
		for _, m := range o.Mounts {
			if _, err := ParseMount(m); err != nil {
				return err
			}
		}
		return CheckPropagation(o.RootPropagation)
	}
	return nil
}

// Init runs in the child: make / private, build the new root, pivot into it.
func (Step) Init(ctx *steps.Context) error {
	if ctx.Spec.OCI.InheritsMounts() {
		// A config without a mount namespace: the host's (hostns.go).
		return initHostNS(ctx)
	}
	if path := ctx.Spec.OCI.JoinPath("mnt"); path != "" {
		if err := joinMount(ctx, path); err != nil {
			return err
		}
	}
	// The host's / is usually a shared mount (systemd makes it so). Our copy
	// would then pass every mount we make back to the host. MS_PRIVATE cuts
	// that, recursively, for this namespace only. pivot_root also refuses a
	// shared parent mount with EINVAL.
	if err := steps.Mount(ctx, "", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := ctx.MountRootfs(); err != nil {
		return err
	}
	root := ctx.Spec.Rootfs
	// pivot_root needs the new root to be a mount point: bind it onto itself.
	if err := steps.Mount(ctx, root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	for _, v := range ctx.Spec.Volumes {
		if err := BindVolume(ctx, root, v); err != nil {
			return err
		}
	}
	if o := ctx.Spec.OCI; o != nil {
		// An OCI config's mounts and device nodes (list.go).
		if err := ociMounts(ctx, root, nil); err != nil {
			return err
		}
		enter := pivot
		if o.NoPivot {
			enter = noPivot
		}
		if err := enter(ctx, root); err != nil {
			return err
		}
		return finishRoot(ctx)
	}
	if err := mountProc(ctx, root); err != nil {
		return err
	}
	if err := MountSys(ctx, root); err != nil {
		return err
	}
	if err := MakeDev(ctx, root); err != nil {
		return err
	}
	return pivot(ctx, root)
}

// mountProc mounts a procfs for the container's PID namespace: it shows the
// processes of the namespace of the process that mounts it, so from here on
// ps lists only the container. Like every mount point in the image, /proc
// is looked up inside root (steps.MountIn): an image's symlink never leads
// a mount onto the host.
func mountProc(ctx *steps.Context, root string) error {
	return steps.MountIn(ctx, "proc", root, "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "", steps.MakeDir(ctx, 0o555))
}

// MountSys mounts sysfs read-only. The kernel allows a new sysfs only to a
// process that owns its network namespace; in a user namespace without one
// (step 5 before step 6) it is refused, so we bind the host's, read-only.
// Exported for the lab (lab/03-mount), whose Init calls it.
func MountSys(ctx *steps.Context, root string) error {
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	err := steps.MountIn(ctx, "sysfs", root, "/sys", "sysfs", flags, "", steps.MakeDir(ctx, 0o555))
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	ctx.Tracef("sysfs refused (no network namespace of our own): bind the host's /sys")
	if err := steps.MountIn(ctx, "/sys", root, "/sys", "", unix.MS_BIND|unix.MS_REC, "", nil); err != nil {
		return err
	}
	// The remount looks /sys up again: now it leads to the bind mount.
	return steps.MountIn(ctx, "", root, "/sys", "", unix.MS_BIND|unix.MS_REMOUNT|flags, "", nil)
}

// pivot makes root the new / and drops the old one. pivot_root(".", ".")
// stacks the old root on top of the new one at the same place; unmounting
// "." then detaches it, so no put_old directory is ever made in the image.
// (This is the trick pivot_root(2) documents in its NOTES.)
func pivot(ctx *steps.Context, root string) error {
	ctx.Tracef("chdir(%q)", root)
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	ctx.Tracef("pivot_root(\".\", \".\")")
	if err := unix.PivotRoot(".", "."); err != nil {
		hint := ""
		if errors.Is(err, unix.EINVAL) {
			hint = " (the new root must be a mount point and / must not be shared: see docs/troubleshooting.md)"
		}
		return fmt.Errorf("pivot_root %s: %w%s", root, err, hint)
	}
	ctx.Tracef("umount2(\".\", MNT_DETACH): the old root is gone")
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount2 old root: %w", err)
	}
	ctx.Tracef("chdir(\"/\")")
	return unix.Chdir("/")
}
