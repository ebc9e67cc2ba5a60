// Package ipc is step 4: an IPC namespace gives the container its own System
// V message queues, semaphores and shared memory, and its own POSIX message
// queues; a tmpfs of its own on /dev/shm does the same for POSIX shared
// memory. See docs/04-ipc.md, ipc_namespaces(7), sysvipc(7), shm_overview(7)
// and mq_overview(7).
package ipc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is step 4.
type Step struct{}

func (Step) Number() int  { return 4 }
func (Step) Name() string { return "ipc" }

// CloneFlags: the child starts in an empty IPC namespace. The kernel
// destroys it, and every object in it, when its last process exits.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	if !ctx.Spec.OCI.NewNS("ipc") {
		ctx.Tracef("no CLONE_NEWIPC: the child is born in the IPC namespace this thread joined (mini/oci)")
		return 0
	}
	ctx.Tracef("CLONE_NEWIPC: a new IPC namespace (System V objects, POSIX message queues)")
	return unix.CLONE_NEWIPC
}

// Init runs in the child after step 3's pivot_root, so the paths are the
// container's. POSIX shared memory (shm_open(3)) is nothing but files in
// /dev/shm, which the IPC namespace does not cover: the container gets a
// tmpfs of its own there. POSIX message queues do belong to the IPC
// namespace, but programs find them through an mqueue mount: a new one shows
// this namespace's queues (mq_overview(7)).
func (Step) Init(ctx *steps.Context) error {
	if ctx.Spec.OCI.OwnMounts() {
		return nil // an OCI config mounts both itself (step 3)
	}
	if err := ownShm(ctx); err != nil {
		return err
	}
	if err := steps.Mkdir(ctx, "/dev/mqueue", 0o755); err != nil {
		return err
	}
	return steps.Mount(ctx, "mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// ownShm replaces the host's /dev/shm, which step 3 bound in, with a fresh
// tmpfs. The bind is detached rather than covered: a process that unmounted
// our tmpfs would otherwise find the host's files underneath.
func ownShm(ctx *steps.Context) error {
	ctx.Tracef("umount2(\"/dev/shm\", MNT_DETACH): drop the host's /dev/shm")
	err := unix.Unmount("/dev/shm", unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: not a mount point
		return fmt.Errorf("umount2 /dev/shm: %w", err)
	}
	// The mount point's own mode does not matter: the tmpfs root gets mode=.
	if err := steps.Mkdir(ctx, "/dev/shm", 0o755); err != nil {
		return err
	}
	// docker's /dev/shm: 64MiB, writable by all with the sticky bit.
	return steps.Mount(ctx, "shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k")
}
