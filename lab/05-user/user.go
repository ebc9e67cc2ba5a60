// Package user is your step 5: a user namespace in which the container's root
// is an unprivileged host uid. Fill in the TODOs in order, then run
//
//	sudo bin/mini run --step 5 --lab rootfs/busybox sh -c 'id; cat /proc/self/uid_map'
//
// and check your work against the scenarios mini itself must pass:
//
//	sudo make lab-check STEP=5
//
// The exercise is lab/05-user/README.md; mini's own version, the solution, is
// steps/05-user/user.go.
package user

import (
	"syscall"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/05-user"
)

// Step is your step 5. It embeds mini's own, so the hooks you do not write
// are mini's (steps/05-user/user.go): Number, Name, Validate, which decides
// the maps on the host and puts them in ctx.Spec.UIDMap and GIDMap
// (--uidmap and --gidmap, else root's ranges in /etc/subuid and /etc/subgid,
// else 0:100000:65536; without root, the caller's own uid and gid, one id
// each), and Attach, which reads the maps back from /proc/PID/uid_map,
// gid_map and setgroups, for --trace. You write CloneFlags and IDMaps;
// yours take the place of mini's.
type Step struct{ ref.Step }

// CloneFlags returns the flag that creates the child in a new user
// namespace (user_namespaces(7)). The other namespaces created in the same
// clone(2) belong to it, so the container's root may administer them.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	// TODO 1: return the CLONE_NEW* flag of a new user namespace (clone(2));
	// the constants are in golang.org/x/sys/unix. Trace it with ctx.Tracef.
	return 0
}

// IDMaps returns the uid and gid maps the engine hands to syscall.ForkExec,
// which writes them to /proc/CHILD/uid_map and gid_map between clone and
// exec, and whether the container may call setgroups(2).
func (Step) IDMaps(ctx *steps.Context) (uidMap, gidMap []syscall.SysProcIDMap, setgroups bool) {
	// TODO 2: turn ctx.Spec.UIDMap and ctx.Spec.GIDMap (lines CONTAINER HOST
	// SIZE, decided by Validate) into []syscall.SysProcIDMap. setgroups: an
	// unprivileged writer of gid_map must deny it (user_namespaces(7), "The
	// /proc/[pid]/setgroups file"): allow it only when mini runs as root
	// (ctx.Spec.Rootless is false). Trace what you write.
	return nil, nil, false
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{syscall.SysProcIDMap{}, unix.CLONE_NEWUSER}
