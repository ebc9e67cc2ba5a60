// Package mount is your step 3: a mount namespace and pivot_root make the
// image the container's /. Fill in the TODOs in order; after each one, run
//
//	sudo bin/mini run --step 3 --lab rootfs/busybox sh -c 'ls /; cat /proc/self/mounts'
//
// and the error tells you the next TODO. Then check your work against the
// scenarios mini itself must pass:
//
//	sudo make lab-check STEP=3
//
// The exercise is lab/03-mount/README.md; mini's own version, the solution,
// is steps/03-mount/mount.go.
package mount

import (
	"errors"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/03-mount"
)

// Step is your step 3. It embeds mini's own, so the hooks you do not write
// are mini's (steps/03-mount/mount.go): Number, Name and Validate, which
// parses -v on the host into ctx.Spec.Volumes. You write CloneFlags and
// Init; yours take the place of mini's.
type Step struct{ ref.Step }

// CloneFlags returns the flag that gives the child a copy of the host's
// mount table, its own from now on (mount_namespaces(7)).
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	// TODO 1: return the CLONE_NEW* flag of a new mount namespace (clone(2));
	// the constants are in golang.org/x/sys/unix. Trace it with ctx.Tracef.
	return 0
}

// Init runs in the child: make / private, build the new root, pivot into it.
// Every mount goes through steps.Mount(ctx, source, target, fstype, flags,
// data), which traces it and names it in its error.
func (Step) Init(ctx *steps.Context) error {
	if err := makePrivate(ctx); err != nil {
		return err
	}
	// Given: later steps (8) build the tree in Spec.Rootfs here.
	if err := ctx.MountRootfs(); err != nil {
		return err
	}
	root := ctx.Spec.Rootfs
	if err := bindRoot(ctx, root); err != nil {
		return err
	}
	// Given: the volumes (-v), /sys and /dev are mini's (ref.BindVolume,
	// ref.MountSys, ref.MakeDev, in steps/03-mount).
	for _, v := range ctx.Spec.Volumes {
		if err := ref.BindVolume(ctx, root, v); err != nil {
			return err
		}
	}
	if err := mountProc(ctx, root); err != nil {
		return err
	}
	if err := ref.MountSys(ctx, root); err != nil {
		return err
	}
	if err := ref.MakeDev(ctx, root); err != nil {
		return err
	}
	return pivot(ctx, root)
}

// makePrivate stops mounts from propagating between this namespace and the
// host's (mount_namespaces(7), "Shared subtrees").
func makePrivate(ctx *steps.Context) error {
	// TODO 2: the copy of the host's / may be a shared mount (systemd makes
	// it so): every mount made below would then appear on the host too, and
	// pivot_root would fail with EINVAL. Make / and everything under it
	// private, for this namespace only: mount(2) with no source, target "/",
	// flags MS_REC|MS_PRIVATE.
	return errors.New("TODO 2 in lab/03-mount/mount.go: make / private")
}

// bindRoot makes root a mount point, as pivot_root(2) demands of the new root.
func bindRoot(ctx *steps.Context, root string) error {
	// TODO 3: bind-mount root onto itself (source and target root,
	// MS_BIND|MS_REC).
	return errors.New("TODO 3 in lab/03-mount/mount.go: bind " + root + " onto itself")
}

// mountProc mounts a procfs at root/proc. A procfs shows the processes of the
// PID namespace of whoever mounts it: this one is the container's
// (proc(5), pid_namespaces(7)).
func mountProc(ctx *steps.Context, root string) error {
	// TODO 4: make root/proc if the image lacks it (steps.Mkdir, mini's, mode
	// 0o555), then mount a "proc" filesystem there (source "proc", fstype
	// "proc") with MS_NOSUID|MS_NODEV|MS_NOEXEC.
	return errors.New("TODO 4 in lab/03-mount/mount.go: mount a procfs on " + root + "/proc")
}

// pivot makes root the new / and drops the old one.
func pivot(ctx *steps.Context, root string) error {
	// TODO 5: chdir into root, then unix.PivotRoot(".", "."): the old root
	// ends up stacked on top of the new one, at ".". Unmount "." with
	// MNT_DETACH to drop it (and with it every host mount), then chdir "/".
	// pivot_root(2), NOTES, explains the trick. Trace each call.
	return errors.New("TODO 5 in lab/03-mount/mount.go: pivot_root into " + root)
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, unix.PivotRoot}
