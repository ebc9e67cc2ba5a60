// Package overlay is your step 8: the container's / is an overlayfs mount,
// the image read-only underneath, an -init layer above it, the container's
// own read-write layer on top. Laying out the directories and writing the
// -init layer's files is mini's own; you write the overlay. Fill in the
// TODOs in order; after each one, run
//
//	sudo bin/mini run --step 8 --lab --net none rootfs/busybox sh -c 'cat /proc/self/mounts; echo hi >/new'
//
// and the error tells you the next TODO. Then check your work against the
// scenarios mini itself must pass:
//
//	sudo make lab-check STEP=8
//
// The exercise is lab/08-overlay/README.md; mini's own version, the
// solution, is steps/08-overlay/overlay.go and layers.go.
package overlay

import (
	"errors"

	"mini/steps"
	ref "mini/steps/08-overlay"
)

// Step is your step 8. It embeds mini's own, so the hooks you do not write
// are mini's (steps/08-overlay/overlay.go): Number, Name and Validate, which
// checks that an overlay can be built from this image under this --root.
// You write Attach, MountRootfs and Cleanup; yours take the place of
// mini's.
type Step struct{ ref.Step }

// Attach lays out the container's layers on the host, under
// <root>/containers/<id>, and writes its -init layer. The child exists
// (pid), blocked until the host releases it: it mounts the layers only
// then, so they are made while it starts.
func (Step) Attach(ctx *steps.Context, pid int) error {
	// Given: mini's ref.PrepareLayers makes the directories (ref.Layers) and
	// the -init layer's files.
	l, err := ref.PrepareLayers(ctx)
	if err != nil {
		return err
	}
	// TODO 1: from now on step 3 must pivot into the merged directory, not
	// into the image: set the spec's Rootfs to l.Merged, and trace it. (The
	// spec travels to the child after Attach: the child sees your change.)
	return errors.New("TODO 1 in lab/08-overlay/overlay.go: pivot into " + l.Merged)
}

// options is the data argument of mount(2) for the overlay of the layers l
// (Documentation/filesystems/overlayfs.rst).
func options(l ref.Layers, image []string, userns bool) string {
	// TODO 2: "lowerdir=A:B,upperdir=U,workdir=W": the lower layers, top
	// first, joined with ':' (l.Lowers(image): the -init layer, then the
	// image), the upper layer l.Upper, and overlayfs's scratch directory
	// l.Work. In a user namespace add ",userxattr": overlayfs must then keep
	// its whiteouts in user.* xattrs, since trusted.* needs host root.
	return ""
}

// MountRootfs runs in the child, in its own mount namespace, between step
// 3 making / private and its pivot_root: the overlay exists only in this
// namespace and goes away with it, even if mini is killed.
func (Step) MountRootfs(ctx *steps.Context) error {
	// TODO 3: mount "overlay" (source and fstype) on l.Merged
	// (l := ref.LayersOf(ctx.ContainerDir())), no flags, data
	// options(l, ctx.Spec.Layers, len(ctx.Spec.UIDMap) > 0). The kernel
	// puts its reason for an EINVAL in dmesg: add ref.Explain(err, ctx.Spec.Layers[0])
	// (mini's) to your error.
	return errors.New("TODO 3 in lab/08-overlay/overlay.go: mount the overlay")
}

// Cleanup runs on the host after the container, and after a run that
// failed half-way.
func (Step) Cleanup(ctx *steps.Context) error {
	l := ref.LayersOf(ctx.ContainerDir())
	// TODO 4: keep the layers of a container that ran (ctx.Started), as
	// docker keeps a stopped container: its upper directory holds what it
	// changed. Remove them anyway with --rm (ctx.Spec.Remove), and always
	// after a run that failed before its command started. Trace what you
	// keep as "keep DIR: why" (DIR is l.Dir): a scenario looks for it.
	return ref.RemoveLayers(ctx, l)
}
