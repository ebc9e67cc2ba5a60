// Package overlay is your step 8: the container's / is an overlayfs mount,
// the image read-only underneath, an -init layer above it, the container's
// own read-write layer on top. Laying out the directories and writing the
// -init layer's files is given, in given_*.go; you write the overlay. Fill
// in the TODOs in order; after each one, run
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
	"fmt"
	"os"

	"mini/steps"
)

// Step is step 8.
type Step struct{}

func (Step) Number() int  { return 8 }
func (Step) Name() string { return "overlay" }

// Prepare lays out the container's layers on the host, under
// <root>/containers/<id> (layersOf), and writes its -init layer.
func (Step) Prepare(ctx *steps.Context) error {
	s := ctx.Spec
	l := layersOf(ctx.ContainerDir())
	hosts, _ := os.ReadFile(hostHostsPath)
	files := initFiles(s, hostResolvConf(hostResolvPath), string(hosts))
	if err := makeLayers(ctx, l, s.Image, files, s.RootUID(), s.RootGID()); err != nil {
		return fmt.Errorf("--root %s: %w", s.Root, err)
	}
	// TODO 1: from now on step 3 must pivot into the merged directory, not
	// into the image: set the spec's Rootfs to l.Merged, and trace it. (The
	// spec travels to the child after Prepare: the child sees your change.)
	return errors.New("TODO 1 in lab/08-overlay/overlay.go: pivot into " + l.Merged)
}

// Options is the data argument of mount(2) for this overlay
// (Documentation/filesystems/overlayfs.rst).
func (l Layers) Options(image string, userns bool) string {
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
	// (l := layersOf(ctx.ContainerDir())), no flags, data
	// l.Options(ctx.Spec.Image, len(ctx.Spec.UIDMap) > 0). The kernel
	// puts its reason for an EINVAL in dmesg: add explain(err, image) (given)
	// to your error.
	return errors.New("TODO 3 in lab/08-overlay/overlay.go: mount the overlay")
}

// Cleanup runs on the host after the container, and after a run that
// failed half-way.
func (Step) Cleanup(ctx *steps.Context) error {
	l := layersOf(ctx.ContainerDir())
	// TODO 4: keep the layers of a container that ran (ctx.Started), as
	// docker keeps a stopped container: its upper directory holds what it
	// changed. Remove them anyway with --rm (ctx.Spec.Remove), and always
	// after a run that failed before its command started.
	return removeLayers(ctx, l)
}
