// Package cgroups is your step 7: a cgroup limits what the container may use,
// and a cgroup namespace makes that cgroup the root of what it sees. The
// machinery (finding the hierarchy, v1 or v2, making and removing the
// cgroup, the OOM report) is given, in given_*.go; you write what touches
// the limits and the namespace. Fill in the TODOs in order, then run
//
//	sudo bin/mini run --step 7 --lab -m 32m --pids-limit 20 rootfs/busybox cat /proc/self/cgroup
//
// and check your work against the scenarios mini itself must pass:
//
//	sudo make lab-check STEP=7
//
// The exercise is lab/07-cgroups/README.md; mini's own version, the
// solution, is steps/07-cgroups/ (memory.go, cpu.go, pids.go, procs.go and
// cgroups.go).
package cgroups

import (
	"errors"

	"mini/steps"
)

// Step is step 7.
type Step struct{}

func (Step) Number() int  { return 7 }
func (Step) Name() string { return "cgroups" }

// join moves the process pid into the cgroup dir (Attach calls it for each
// hierarchy, while the child waits on the spec pipe).
func join(ctx *steps.Context, dir string, pid int) error {
	// TODO 1: write the pid to dir's cgroup.procs: that moves the whole
	// process, and its children are born in the cgroup (cgroups(7)). The
	// given write(ctx, dir, file, value) does it and traces it.
	return errors.New("TODO 1 in lab/07-cgroups/cgroups.go: move the child into " + dir)
}

// setMemory (v2): the hard memory limit, and no swap beyond it.
func (d *v2) setMemory(ctx *steps.Context, limit int64) error {
	// TODO 2: write limit, in bytes, to memory.max in d.dir; then, if the
	// file memory.swap.max exists (the given exists(dir, file)), write 0
	// there, so the container is killed at the limit instead of swapping.
	return errors.New("TODO 2 in lab/07-cgroups/cgroups.go: set memory.max")
}

// setMemory (v1): the same in the memory hierarchy, d.dir["memory"].
func (d *v1) setMemory(ctx *steps.Context, limit int64) error {
	// TODO 2 (cgroup v1 hosts): write limit to memory.limit_in_bytes; then
	// the same to memory.memsw.limit_in_bytes (memory+swap) if it exists,
	// else 0 to memory.swappiness.
	return errors.New("TODO 2 in lab/07-cgroups/cgroups.go: set memory.limit_in_bytes")
}

// setPids (v2): the most tasks (processes and threads) the cgroup may hold.
func (d *v2) setPids(ctx *steps.Context, max int64) error {
	// TODO 3: write max to pids.max in d.dir. Past it, fork(2) fails with
	// EAGAIN.
	return errors.New("TODO 3 in lab/07-cgroups/cgroups.go: set pids.max")
}

// setPids (v1): the same in the pids hierarchy, d.dir["pids"].
func (d *v1) setPids(ctx *steps.Context, max int64) error {
	// TODO 3 (cgroup v1 hosts): write max to pids.max there.
	return errors.New("TODO 3 in lab/07-cgroups/cgroups.go: set pids.max")
}

// setCPU (v2): at most quota µs of CPU time in each period of period µs.
func (d *v2) setCPU(ctx *steps.Context, quota, period int64) error {
	// TODO 4: write "QUOTA PERIOD" to cpu.max in d.dir (--cpus 0.5 is
	// "50000 100000").
	return errors.New("TODO 4 in lab/07-cgroups/cgroups.go: set cpu.max")
}

// setCPU (v1): the same with two files in the cpu hierarchy, d.dir["cpu"].
func (d *v1) setCPU(ctx *steps.Context, quota, period int64) error {
	// TODO 4 (cgroup v1 hosts): write period to cpu.cfs_period_us, then
	// quota to cpu.cfs_quota_us.
	return errors.New("TODO 4 in lab/07-cgroups/cgroups.go: set cpu.cfs_quota_us")
}

// Init runs in the child, already in its cgroup (Attach put it there).
func (Step) Init(ctx *steps.Context) error {
	// TODO 5: a new cgroup namespace makes the cgroups the child is in now
	// the root of what it sees: /proc/self/cgroup then says "/"
	// (cgroup_namespaces(7)). It cannot be a clone flag: at clone time the
	// child was still in mini's cgroup. Call unshare(2) with the right
	// CLONE_NEW* flag (unix.Unshare), traced; it changes the calling thread
	// only, and the engine execs the command from this same thread.
	return errors.New("TODO 5 in lab/07-cgroups/cgroups.go: a cgroup namespace")
}
