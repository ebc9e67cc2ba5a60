// Package ipc is your step 4: the IPC namespace, and a /dev/shm of the
// container's own. Fill in the TODOs in order; after each one, run
//
//	sudo bin/mini run --step 4 --lab rootfs/busybox sh -c 'cat /proc/self/mounts; wc -l </proc/sysvipc/msg'
//
// and the error tells you the next TODO. Then check your work against the
// scenarios mini itself must pass:
//
//	sudo make lab-check STEP=4
//
// The exercise is lab/04-ipc/README.md; mini's own version, the solution, is
// steps/04-ipc/ipc.go.
package ipc

import (
	"errors"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/04-ipc"
)

// Step is your step 4. It embeds mini's own (steps/04-ipc/ipc.go), which
// gives it Number and Name; you write CloneFlags and Init, which take the
// place of mini's.
type Step struct{ ref.Step }

// CloneFlags returns the flag that starts the child in an empty IPC
// namespace: System V message queues, semaphores and shared memory, and POSIX
// message queues (ipc_namespaces(7)).
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	// TODO 1: return the CLONE_NEW* flag of a new IPC namespace (clone(2));
	// the constants are in golang.org/x/sys/unix. Trace it with ctx.Tracef.
	return 0
}

// Init runs in the child after step 3's pivot_root: the paths are the
// container's own.
func (Step) Init(ctx *steps.Context) error {
	if err := ownShm(ctx); err != nil {
		return err
	}
	return mountMqueue(ctx)
}

// ownShm gives the container a /dev/shm of its own. POSIX shared memory
// (shm_open(3)) is files in /dev/shm, which the IPC namespace does not cover,
// and step 3 bound the host's /dev/shm there.
func ownShm(ctx *steps.Context) error {
	// TODO 2: detach the host's /dev/shm: umount2(2) with MNT_DETACH
	// (unix.Unmount). EINVAL means it is not a mount point: that is fine.
	// Then mount a new tmpfs on /dev/shm (source "shm", fstype "tmpfs"),
	// flags MS_NOSUID|MS_NODEV|MS_NOEXEC, data "mode=1777,size=65536k" (the
	// size and mode docker gives). Why detach rather than mount on top?
	return errors.New("TODO 2 in lab/04-ipc/ipc.go: a tmpfs of the container's own on /dev/shm")
}

// mountMqueue mounts the mqueue filesystem on /dev/mqueue. Mounted from inside
// the new namespace, it shows that namespace's POSIX message queues
// (mq_overview(7)).
func mountMqueue(ctx *steps.Context) error {
	// TODO 3: make /dev/mqueue (steps.Mkdir, mini's, mode 0o755), then mount
	// "mqueue" there (source and fstype "mqueue") with
	// MS_NOSUID|MS_NODEV|MS_NOEXEC.
	return errors.New("TODO 3 in lab/04-ipc/ipc.go: mount mqueue on /dev/mqueue")
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, unix.Unmount}
