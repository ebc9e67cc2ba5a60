// Package overlay is your step 8: the container's / is an overlayfs mount,
// the image read-only underneath, an -init layer above it, the container's
// own read-write layer on top. Laying out the directories, writing the
// -init layer's files and making the image's idmapped layers is mini's own
// (the host's side, Attach); you write the overlay, in the child. Fill in
// the TODOs in order; after each one, run
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
	"strconv"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/08-overlay"
)

// Step is your step 8. It embeds mini's own, so the hooks you do not write
// are mini's (steps/08-overlay/overlay.go): Number, Name, Validate (can an
// overlay be built under this --root, and are the layers idmapped?),
// Attach, which lays out the container's layers on the host under
// <root>/containers/<id> and sends the child, at the barrier, its directory
// and a mount of each image layer, and Started. You write MountRootfs and
// Cleanup; yours take the place of mini's.
type Step struct{ ref.Step }

// options is the data argument of mount(2) for the overlay of n image
// layers (Documentation/filesystems/overlayfs.rst), with paths relative to
// the container's lower directory, where the child is when it mounts.
func options(n int, userns bool) string {
	// TODO 1: "lowerdir=../init:0:1:...,upperdir=../upper,workdir=../work":
	// the lower layers, top first, joined with ':' (the -init layer
	// ../init, then the image's layers 0 .. n-1, each attached on
	// lower/N), the upper layer ../upper, and overlayfs's scratch directory
	// ../work. In a user namespace add ",userxattr": overlayfs must then
	// keep its whiteouts in user.* xattrs, since trusted.* needs host root.
	return ""
}

// MountRootfs runs in the child, in its own mount namespace, between step
// 3 making / private and its pivot_root: the overlay exists only in this
// namespace and goes away with it, even if mini is killed.
func (Step) MountRootfs(ctx *steps.Context) error {
	// TODO 2: go where the layers are, then mount them.
	//   a. fd, err := ctx.ReceivedFile(ctx.Spec.DirFile) is the container's
	//      directory, which the host opened for you: unix.Fchdir(fd) there.
	//   b. ref.AttachLowers(ctx) puts each image layer on lower/N (given:
	//      read it, it is one move_mount(2) a layer).
	//   c. unix.Chdir("lower"), then mount "overlay" (source and fstype) on
	//      "../merged", no flags, data options(len(ctx.Spec.LowerFiles),
	//      ctx.Spec.UserNS()). The kernel puts its reason for an EINVAL in
	//      dmesg: add ref.Explain(err, ctx.Spec.Layers[0]) to your error.
	//   d. Step 3 must pivot into merged: set ctx.Spec.Rootfs to
	//      "/proc/self/fd/<fd>/merged" (strconv.Itoa(fd)), and trace it.
	return errors.New("TODO 2 in lab/08-overlay/overlay.go: mount the overlay (TODO 1: its options)")
}

// Cleanup runs on the host after the container, and after a run that
// failed half-way.
func (Step) Cleanup(ctx *steps.Context) error {
	l := ref.LayersOf(ctx.ContainerDir())
	// TODO 3: keep the layers of a container that ran (ctx.Started), as
	// docker keeps a stopped container: its upper directory holds what it
	// changed. Remove them anyway with --rm (ctx.Spec.Remove), and always
	// after a run that failed before its command started. Trace what you
	// keep as "keep DIR: why" (DIR is l.Dir): a scenario looks for it.
	return ref.RemoveLayers(ctx, l)
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, unix.Fchdir, strconv.Itoa}
