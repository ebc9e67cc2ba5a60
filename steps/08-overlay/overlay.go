// Package overlay is step 8: the container's / is an overlayfs mount, the
// image read-only underneath, a docker-style -init layer above it, and the
// container's own read-write layer on top. See docs/08-overlay.md,
// Documentation/filesystems/overlayfs.rst and mount(2).
package overlay

import (
	"fmt"
	"os"

	"mini/steps"
)

// Step is step 8.
type Step struct{}

func (Step) Number() int  { return 8 }
func (Step) Name() string { return "overlay" }

// The host files the -init layer is made from; variables so that tests can
// point them elsewhere.
var (
	hostResolvPath = "/etc/resolv.conf"
	hostHostsPath  = "/etc/hosts"
)

// Validate checks, before anything is made, that an overlay can be built
// from this image under this --root.
func (Step) Validate(ctx *steps.Context) error {
	s := ctx.Spec
	for _, layer := range s.Layers {
		if err := checkPath("image layer", layer); err != nil {
			return err
		}
	}
	if err := checkPath("--root", s.Root); err != nil {
		return err
	}
	if err := checkRoot(s.Root); err != nil {
		return err
	}
	if len(s.UIDMap) == 0 {
		return nil
	}
	// With step 5 the child mounts the overlay as the container's root,
	// an unprivileged uid on the host.
	if err := checkKernel(); err != nil {
		return err
	}
	if err := checkSearchable("--root", s.Root, s.RootUID(), s.RootGID()); err != nil {
		return err
	}
	for _, layer := range s.Layers {
		if err := checkSearchable("image layer", layer, s.RootUID(), s.RootGID()); err != nil {
			return err
		}
	}
	return nil
}

// Attach lays out the container's layers on the host and writes its -init
// layer. From now on step 3 pivots into the merged directory, not into the
// image. It needs no pid: it is an Attach and not a Prepare because the
// child mounts the layers only once released, so they are made while its Go
// runtime starts, and the host's work and the child's overlap
// (docs/performance.md).
func (Step) Attach(ctx *steps.Context, pid int) error {
	l, err := PrepareLayers(ctx)
	if err != nil {
		return err
	}
	ctx.Spec.Rootfs = l.Merged
	ctx.Tracef("rootfs is now %s: the child mounts the overlay there", l.Merged)
	return nil
}

// PrepareLayers makes the container's layers and its -init layer's files:
// Attach but for the switch of Rootfs. Exported for the lab
// (lab/08-overlay), whose Attach makes that switch.
func PrepareLayers(ctx *steps.Context) (Layers, error) {
	s := ctx.Spec
	reclaimLayers(ctx, s.Root)
	l := LayersOf(ctx.ContainerDir())
	hosts, _ := os.ReadFile(hostHostsPath)
	files := initFiles(s, hostResolvConf(hostResolvPath), string(hosts))
	if err := makeLayers(ctx, l, s.Layers, files, s.RootUID(), s.RootGID(), s.Remove); err != nil {
		return l, fmt.Errorf("--root %s: %w", s.Root, err)
	}
	return l, nil
}

// MountRootfs runs in the child, in its own mount namespace, between step
// 3 making / private and its pivot_root: the overlay exists only in this
// namespace and goes away with it, even if mini is killed.
func (Step) MountRootfs(ctx *steps.Context) error {
	s := ctx.Spec
	l := LayersOf(ctx.ContainerDir())
	err := steps.Mount(ctx, "overlay", l.Merged, "overlay", 0, l.Options(s.Layers, len(s.UIDMap) > 0))
	if err != nil {
		return fmt.Errorf("%w%s", err, Explain(err, s.Layers[len(s.Layers)-1]))
	}
	return nil
}

// Cleanup keeps the layers of a container that ran, as docker keeps a
// stopped container, unless --rm; a run that failed before the command
// started leaves nothing.
func (Step) Cleanup(ctx *steps.Context) error {
	l := LayersOf(ctx.ContainerDir())
	if ctx.Started && !ctx.Spec.Remove {
		ctx.Tracef("keep %s: its upper directory holds what the container changed (--rm removes it)", l.Dir)
		return nil
	}
	return RemoveLayers(ctx, l)
}
