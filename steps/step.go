// Package steps holds the contract every step implements and the engine that
// runs them ("step 0"): re-exec, spec pipe, sync barrier, wait, exit status,
// cleanup and trace.
//
// A step adds exactly one mechanism. It implements only the hooks it needs,
// each a small interface, like io.WriterTo: the engine asks "does this step
// have a Prepare?" with a type assertion and calls it if so.
//
//	host:  Validate -> Prepare -> CloneFlags/IDMaps -> (clone) -> Attach -> (release: spec on fd 3)
//	child:      (blocked on fd 3) -> Init (1..N) -> PreUser -> switch to --user -> PreExec -> execve
//	host:  Started (the command runs) -> (it exits) -> Cleanup (in reverse, also after a failure)
package steps

import "syscall"

// Step is what every step is: a number and a name ("3", "mount").
type Step interface {
	Number() int
	Name() string
}

// Validator checks the spec on the host before anything is created, so a bad
// flag fails with nothing to undo.
type Validator interface {
	Validate(ctx *Context) error
}

// Cloner returns the CLONE_NEW* flags the child is created with.
type Cloner interface {
	CloneFlags(ctx *Context) uintptr
}

// IDMapper returns the uid and gid maps of a new user namespace, and whether
// the container may call setgroups(2) (an unprivileged mapper must deny it,
// see user_namespaces(7)).
type IDMapper interface {
	IDMaps(ctx *Context) (uids, gids []syscall.SysProcIDMap, setgroups bool)
}

// Preparer runs on the host before the child starts: allocate an address,
// create a cgroup, lay out directories. What it makes, its Cleanup removes.
type Preparer interface {
	Prepare(ctx *Context) error
}

// Attacher runs on the host once the child exists but is still blocked on the
// sync pipe: move a veth into its network namespace, put its pid in a cgroup.
// It is also where host work goes that the child needs only once released
// (step 8's layers): the child's runtime is starting meanwhile, so the two
// overlap.
type Attacher interface {
	Attach(ctx *Context, pid int) error
}

// RootfsMounter runs in the child, inside step 3's Init, after / has been made
// private and before pivot_root: it builds the tree pivot_root enters (step 8
// mounts the overlay there). Only steps after 3 implement it.
type RootfsMounter interface {
	MountRootfs(ctx *Context) error
}

// Initer runs in the child, inside the new namespaces, before the command is
// executed. Steps run in order 1..N.
type Initer interface {
	Init(ctx *Context) error
}

// Starter runs on the host once the command runs: its execve(2) succeeded.
// What a step made only for a run that could still fail (step 8's record
// that its layers go if this mini dies) is settled here. An error is
// reported, and the container goes on.
type Starter interface {
	Started(ctx *Context) error
}

// PreUserer runs in the child after every step's Init, while the child is
// still the container's root, just before the engine switches to --user
// (SwitchUser, identity.go): step 9 drops the capability bounding set there
// and keeps its capabilities across the switch.
type PreUserer interface {
	PreUser(ctx *Context) error
}

// PreExecer runs in the child last, after the switch to --user, the chdir to
// -w and the fds closed, just before execve(2): step 9 sets the final
// capabilities, no_new_privs and its seccomp filter there, so that the
// filter sees as few of mini's own system calls as it can.
type PreExecer interface {
	PreExec(ctx *Context) error
}

// Cleaner runs on the host after the child has exited, in reverse order, and
// also after a failure half-way: it must undo only what its own Prepare or
// Attach did, and tolerate that they did not run or ran in part.
type Cleaner interface {
	Cleanup(ctx *Context) error
}
