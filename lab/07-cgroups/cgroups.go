// Package cgroups is your step 7: a cgroup limits what the container may use,
// and a cgroup namespace makes that cgroup the root of what it sees. The
// machinery (finding the hierarchy, v1 or v2, making and removing the
// cgroup, the OOM report) is mini's own; you write what touches the limits
// and the namespace. Fill in the TODOs in order, then run
//
//	sudo bin/mini run --step 7 --lab -m 32m --pids-limit 20 rootfs/busybox cat /proc/self/cgroup
//
// and check your work against the scenarios mini itself must pass:
//
//	sudo make lab-check STEP=7
//
// The exercise is lab/07-cgroups/README.md; mini's own version, the
// solution, is steps/07-cgroups/cgroups.go (setLimits, moveIn, Init).
package cgroups

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/07-cgroups"
)

// Step is your step 7. It embeds mini's own, so the hooks you do not write
// are mini's (steps/07-cgroups/cgroups.go): Number, Name, Validate (-m,
// --cpus and --pids-limit parsed into ctx.Spec) and Cleanup (the OOM
// report; kill what is left in the cgroup, remove it). You write Prepare's
// limits, Attach and Init; yours take the place of mini's.
type Step struct{ ref.Step }

// Prepare makes the container's cgroup before the child exists, then writes
// its limits into it: they hold from the child's first instruction.
func (Step) Prepare(ctx *steps.Context) error {
	// Given: mini's ref.MakeCgroup finds the host's cgroup version, makes
	// the cgroup and records it for Cleanup. dir("memory") is where the
	// memory controller's files are: on v2 the container's one cgroup
	// directory, on v1 its directory in the memory hierarchy.
	version, dir, err := ref.MakeCgroup(ctx)
	if err != nil {
		return err
	}
	v2 := version == 2
	s := ctx.Spec
	if s.MemoryLimit > 0 {
		if err := setMemory(ctx, v2, dir("memory"), s.MemoryLimit); err != nil {
			return err
		}
	}
	if s.CPUQuota > 0 {
		if err := setCPU(ctx, v2, dir("cpu"), s.CPUQuota, s.CPUPeriod); err != nil {
			return err
		}
	}
	if s.PidsMax > 0 {
		if err := setPids(ctx, dir("pids"), s.PidsMax); err != nil {
			return err
		}
	}
	return nil
}

// Attach moves the child pid into the container's cgroup while it waits on
// the spec pipe: into each hierarchy's on v1, the one directory on v2. This
// is the textbook way, mini's moveIn, which its Attach uses only where the
// fast way is missing. mini's own step gets the child in
// without the global lock a move through cgroup.procs takes (on v2 the child
// is born in the cgroup, on v1 it moves itself): docs/07-cgroups.md,
// "Joining without stopping the machine".
func (Step) Attach(ctx *steps.Context, pid int) error {
	dirs, err := ref.Dirs(ctx.Spec) // given: the directories Prepare made
	if err != nil {
		return err
	}
	// TODO 1: write the pid to each dir's cgroup.procs: that moves the whole
	// process, and its children are born in the cgroup (cgroups(7)).
	// mini's ref.Write(ctx, dir, file, value) does it and traces it.
	return errors.New("TODO 1 in lab/07-cgroups/cgroups.go: move the child into its cgroup, " + dirs[0])
}

// setMemory: the hard memory limit, and no swap beyond it.
func setMemory(ctx *steps.Context, v2 bool, dir string, limit int64) error {
	if v2 {
		// TODO 2: write limit, in bytes, to memory.max in dir; then, if the
		// file memory.swap.max exists (ref.Exists(dir, file), mini's), write
		// 0 there, so the container is killed at the limit instead of
		// swapping.
		return errors.New("TODO 2 in lab/07-cgroups/cgroups.go: set memory.max")
	}
	// TODO 2 (cgroup v1 hosts): dir is in the memory hierarchy. Write limit
	// to memory.limit_in_bytes; then the same to memory.memsw.limit_in_bytes
	// (memory+swap) if it exists, else 0 to memory.swappiness.
	return errors.New("TODO 2 in lab/07-cgroups/cgroups.go: set memory.limit_in_bytes")
}

// setPids: the most tasks (processes and threads) the cgroup may hold.
func setPids(ctx *steps.Context, dir string, max int64) error {
	// TODO 3: write max to pids.max in dir: the same file on v1 and v2 (on
	// v1, dir is in the pids hierarchy). Past it, fork(2) fails with EAGAIN.
	return errors.New("TODO 3 in lab/07-cgroups/cgroups.go: set pids.max")
}

// setCPU: at most quota µs of CPU time in each period of period µs.
func setCPU(ctx *steps.Context, v2 bool, dir string, quota, period int64) error {
	if v2 {
		// TODO 4: write "QUOTA PERIOD" to cpu.max in dir (--cpus 0.5 is
		// "50000 100000").
		return errors.New("TODO 4 in lab/07-cgroups/cgroups.go: set cpu.max")
	}
	// TODO 4 (cgroup v1 hosts): dir is in the cpu hierarchy. Write period to
	// cpu.cfs_period_us, then quota to cpu.cfs_quota_us.
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

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, unix.Unshare, strconv.FormatInt}
