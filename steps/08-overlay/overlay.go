// Package overlay is step 8: the container's / is an overlayfs mount, the
// image's layers read-only underneath, a docker-style -init layer above
// them, and the container's own read-write layer on top. The image's layers
// are idmapped mounts, so the container's root owns the image's files as
// host root does. See docs/08-overlay.md,
// Documentation/filesystems/overlayfs.rst, mount(2) and mount_setattr(2).
//
// This file is the lesson: the hooks, and the overlay mount itself
// (MountRootfs). Beside it: layers.go (the container's directories, the
// mount's options, removing them), initlayer.go (the -init layer's files),
// lower.go (the image's layers as idmapped mounts), shift.go (shifted
// copies, where a layer cannot be idmapped), check.go (what Validate
// checks), and what mini's image store unpacks with: unpack.go and
// whiteout.go (a layer's tar into a directory overlayfs stacks).
package overlay

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

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
// under this --root, and decides how the image's layers reach the child.
func (Step) Validate(ctx *steps.Context) error {
	s := ctx.Spec
	if err := checkRoot(s.Root); err != nil {
		return err
	}
	if !s.UserNS() {
		return nil
	}
	// With step 5 the child mounts the overlay as the container's root.
	release := steps.KernelRelease()
	if err := checkKernel(release); err != nil {
		return err
	}
	var why string
	s.Idmap, why = idmapped(s, release)
	if s.Idmap {
		ctx.Tracef("the image's layers are idmapped mounts for the container's user namespace")
	} else {
		ctx.Tracef("no idmapped layers (%s)", why)
	}
	return nil
}

// Attach lays out the container's layers on the host, writes its -init
// layer, and sends the child what it mounts them with: its directory as
// the child's mount namespace has it, and a mount of each image layer. It
// is an Attach and not a Prepare because both need the child: its mount
// namespace, and its user namespace for the idmap. The child mounts them
// only once released, so they are made while its Go runtime starts, and
// the host's work and the child's overlap (docs/performance.md).
func (Step) Attach(ctx *steps.Context, pid int) error {
	l, err := PrepareLayers(ctx)
	if err != nil {
		return err
	}
	return SendLayers(ctx, l, pid)
}

// PrepareLayers makes the container's layers and its -init layer's files.
// Exported for the lab (lab/08-overlay).
func PrepareLayers(ctx *steps.Context) (Layers, error) {
	s := ctx.Spec
	reclaimLayers(ctx, s.Root)
	l := LayersOf(ctx.ContainerDir())
	hosts, _ := os.ReadFile(hostHostsPath)
	files := initFiles(s, hostResolvConf(hostResolvPath), string(hosts))
	if err := makeLayers(ctx, l, s.Layers, files, s.RootUID(), s.RootGID()); err != nil {
		return l, steps.StateError(err)
	}
	return l, nil
}

// SendLayers sends the child, at the barrier, the container's directory
// and the image's layers. The directory is --root's, 0700: the container's
// root, an unprivileged host uid, may not pass through it. So the host opens
// the container's directory for the child, through /proc/PID/root, in the
// child's own mount namespace (openIn), and the child mounts relative to
// it. Exported for the lab (lab/08-overlay).
func SendLayers(ctx *steps.Context, l Layers, pid int) error {
	dir, err := openIn(pid, l.Dir)
	if err != nil {
		return err
	}
	ctx.Tracef("open /proc/%d/root%s (O_PATH): the container's directory, for the child", pid, l.Dir)
	ctx.Spec.DirFile = ctx.SendFile(dir)
	return sendLowers(ctx, pid)
}

// MountRootfs runs in the child, in its own mount namespace, between step
// 3 making / private and its pivot_root: the overlay exists only in this
// namespace and goes away with it, even if mini is killed. From the
// container's directory (fchdir to the file the host sent), it attaches
// the image's layers on lower/N, and from lower it mounts the overlay on
// merged; step 3 then pivots into merged.
func (Step) MountRootfs(ctx *steps.Context) error {
	s := ctx.Spec
	dir, err := ctx.ReceivedFile(s.DirFile)
	if err != nil {
		return err
	}
	ctx.Tracef("fchdir(fd %d): %s, the container's directory", dir, ctx.ContainerDir())
	if err := unix.Fchdir(dir); err != nil {
		return fmt.Errorf("fchdir %s: %w", ctx.ContainerDir(), err)
	}
	if err := AttachLowers(ctx); err != nil {
		return err
	}
	ctx.Tracef("chdir(\"lower\"): the overlay's options name every layer from there")
	if err := unix.Chdir("lower"); err != nil {
		return fmt.Errorf("chdir %s/lower: %w", ctx.ContainerDir(), err)
	}
	err = steps.Mount(ctx, "overlay", "../merged", "overlay", 0, Options(len(s.LowerFiles), s.UserNS()))
	if err != nil {
		return fmt.Errorf("%w%s", err, Explain(err, s.Layers[0]))
	}
	s.Rootfs = "/proc/self/fd/" + strconv.Itoa(dir) + "/merged"
	ctx.Tracef("rootfs is now %s: merged, through the directory's fd", s.Rootfs)
	return nil
}

// Started drops the record that has the layers removed if this mini dies:
// the command runs, and a container that ran keeps its layers, as docker
// keeps a stopped container. With --rm this mini removes them at the end,
// or the next run does.
func (Step) Started(ctx *steps.Context) error {
	if ctx.Spec.Remove {
		return nil
	}
	l := LayersOf(ctx.ContainerDir())
	ctx.Tracef("rm %s: the command runs, its layers are kept", l.RemoveBy)
	return os.Remove(l.RemoveBy)
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
