// Package cgroups is step 7: a cgroup limits what the container may use
// (memory, CPU time, number of processes), and a cgroup namespace makes that
// cgroup the root of what the container sees. It drives cgroup v2 and v1,
// whichever the host runs. See docs/07-cgroups.md, cgroups(7),
// cgroup_namespaces(7) and the kernel's Documentation/admin-guide/cgroup-v2.rst.
//
// This file is the lesson, in the order a run takes: make the cgroup, write
// the limits, put the child in, a cgroup namespace, the OOM count. Beside
// it: limits.go (Validate), files.go (cgroup files; removing a cgroup),
// usage.go (mini stats), and internal/: hierarchy (v1 or v2, and where the
// cgroup goes), record (what finds it again) and kill (emptying one).
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/07-cgroups/internal/hierarchy"
	"mini/steps/07-cgroups/internal/record"
)

// Step is step 7.
type Step struct{}

func (Step) Number() int  { return 7 }
func (Step) Name() string { return "cgroups" }

// Prepare makes the container's cgroup and writes its limits, before the
// child exists, then arranges for the child to be in it before it execs:
// the limits hold from the command's first instruction. Every run gets a
// cgroup, limits or not: it is what Cleanup kills and what the cgroup
// namespace shows as "/".
func (Step) Prepare(ctx *steps.Context) error {
	cg, err := makeCgroup(ctx)
	if err != nil {
		return err
	}
	if err := setLimits(ctx, cg); err != nil {
		return err
	}
	if ctx.Spec.OCI != nil { // an OCI config's other resources (oci.go)
		if err := setOCI(ctx, cg, ctx.Spec.OCI); err != nil {
			return err
		}
	}
	return bornIn(ctx, cg)
}

// makeCgroup makes the container's cgroup, "mini-<id>", where
// internal/hierarchy places it, after the record: what is made after it is
// found again if this mini dies (and dead runs' cgroups are reclaimed).
func makeCgroup(ctx *steps.Context) (record.Record, error) {
	s := ctx.Spec
	steps.ReclaimDead(ctx, record.Pattern(s.Root), readOwner, release(ctx))
	p, err := hierarchy.Locate(ctx, cgroupName(s.ID), joins(s), controllers(s))
	if err == nil && s.OCI != nil {
		p, err = ociPlace(p, s.OCI) // a config's cgroupsPath (oci.go)
	}
	if err != nil {
		return record.Record{}, err
	}
	cg, err := saveRecord(ctx, p)
	if err == nil {
		err = makeAbove(ctx, p, &cg)
	}
	if err != nil {
		return cg, err
	}
	// v2: a controller is available in a cgroup only if its parent passes
	// it down (enable). v1: each controller is on in its own hierarchy.
	for _, parent := range p.Parents {
		if err := enable(ctx, parent, controllers(s)); err != nil {
			return cg, err
		}
	}
	for _, dir := range dirs(cg) {
		// The kernel fills the new directory with the controllers' files.
		ctx.Tracef("mkdir(%q)", dir)
		if err := unix.Mkdir(dir, 0o755); err != nil {
			return cg, fmt.Errorf("mkdir %s: %w", dir, err)
		}
	}
	return cg, nil
}

// setLimits writes the limits, v2's files and v1's side by side. memory: a
// hard limit (anonymous memory, page cache, tmpfs, kernel memory); past it
// the OOM killer kills a process. No swap on top: the container would slow
// down instead, by how much depending on the host. cpu: at most quota µs
// of CPU time per period, over all CPUs (sched-bwc.rst). pids: the most
// tasks; past it fork(2) fails with EAGAIN, so a fork bomb stops there.
func setLimits(ctx *steps.Context, cg record.Record) error {
	s, v2 := ctx.Spec, cg.Version == 2
	if s.MemoryLimit > 0 {
		dir, n := dirOf(cg, "memory"), strconv.FormatInt(s.MemoryLimit, 10)
		var err error
		switch {
		case v2:
			// memory.swap.max exists when the kernel accounts swap.
			err = write(ctx, dir, "memory.max", n, "memory.swap.max", "0")
		case Exists(dir, "memory.memsw.limit_in_bytes"):
			// memory+swap, with swap accounting (swapaccount=1). Never below
			// the memory limit: memory first.
			err = write(ctx, dir, "memory.limit_in_bytes", n, "memory.memsw.limit_in_bytes", n)
		default:
			err = write(ctx, dir, "memory.limit_in_bytes", n, "memory.swappiness", "0")
		}
		if err != nil {
			return err
		}
	}
	if s.CPUQuota > 0 {
		dir := dirOf(cg, "cpu")
		quota, period := strconv.FormatInt(s.CPUQuota, 10), strconv.FormatInt(s.CPUPeriod, 10)
		var err error
		if v2 {
			err = Write(ctx, dir, "cpu.max", quota+" "+period)
		} else {
			if err = Write(ctx, dir, "cpu.cfs_period_us", period); err == nil {
				err = Write(ctx, dir, "cpu.cfs_quota_us", quota)
			}
		}
		if err != nil {
			return err
		}
	}
	if s.PidsMax > 0 {
		return Write(ctx, dirOf(cg, "pids"), "pids.max", strconv.FormatInt(s.PidsMax, 10))
	}
	return nil
}

// How the child gets into its cgroup, two ways. The textbook way (moveIn,
// what the lab has you write): the host writes the child's pid to
// cgroup.procs while the child waits. To move a whole process the kernel
// stops every fork, exit and exec on the machine (cgroup_threadgroup_rwsem)
// and waits for an RCU grace period: more than the rest of a run
// (docs/performance.md). The fast way (bornIn, joinSelf) needs no such
// lock. On v2 the child is born in the cgroup: clone3(2) with
// CLONE_INTO_CGROUP (Linux 5.7). On v1 a thread may move itself: "0"
// written to a hierarchy's "tasks" moves only the writer. The host opens
// the tasks files (only host root may) and passes them to the child, whose
// Init writes "0" from the thread that then execs the command: execve(2)
// leaves that thread alone in the process. mini takes the fast way, and
// the textbook one on v2 before Linux 5.7.

// bornIn prepares the fast way.
func bornIn(ctx *steps.Context, cg record.Record) error {
	if cg.Version == 2 {
		if !cloneIntoCgroup() {
			return nil // the textbook way, in Attach
		}
		dir := dirOf(cg, "")
		ctx.Tracef("open(%q, O_PATH|O_DIRECTORY): the child is born in it, clone3(CLONE_INTO_CGROUP)", dir)
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", dir, err)
		}
		ctx.CloneIntoCgroup(os.NewFile(uintptr(fd), dir))
		return nil
	}
	for _, dir := range dirs(cg) {
		path := filepath.Join(dir, "tasks")
		tasks, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		fd := ctx.PassFile(os.NewFile(uintptr(tasks), path))
		ctx.Tracef("open(%q, O_WRONLY): fd %d in the child, which joins with it", path, fd)
		ctx.Spec.CgroupTasks = append(ctx.Spec.CgroupTasks, steps.PassedFile{FD: fd, Path: path})
	}
	return nil
}

// cloneIntoCgroup says whether clone3(2) takes CLONE_INTO_CGROUP here.
var cloneIntoCgroup = func() bool { return steps.KernelAtLeast(steps.KernelRelease(), 5, 7) }

// Attach takes the textbook way where the fast way is missing: cgroup v2 on
// a kernel before 5.7.
func (Step) Attach(ctx *steps.Context, pid int) error {
	if cloneIntoCgroup() {
		return nil
	}
	cg, err := record.Load(record.Path(ctx.Spec.Root, ctx.Spec.ID))
	if err != nil || cg.Version != 2 {
		return err
	}
	return moveIn(ctx, cg, pid)
}

// moveIn is the textbook way: "echo PID > cgroup.procs" in each of the
// container's cgroups moves the whole process, and its children are born
// in them (cgroups(7)).
func moveIn(ctx *steps.Context, cg record.Record, pid int) error {
	for _, dir := range dirs(cg) {
		if err := Write(ctx, dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Init runs in the child. On v1 it joins the cgroup first (joinSelf). Then
// a new cgroup namespace makes the cgroups it is in the root of what it
// sees: /proc/self/cgroup says "/" (cgroup_namespaces(7)). An unshare, not
// a clone flag: the namespace's root is fixed when it is made, from its
// maker's cgroups, and at clone time (v1) those are mini's. unshare(2)
// changes the calling thread, the one the engine execs the command from.
func (Step) Init(ctx *steps.Context) error {
	if err := joinSelf(ctx); err != nil {
		return err
	}
	if !ctx.Spec.OCI.NewNS("cgroup") {
		ctx.Tracef("no cgroup namespace: the config asks for none")
		return nil
	}
	ctx.Tracef("unshare(CLONE_NEWCGROUP): this cgroup becomes /")
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWCGROUP): %w", err)
	}
	return nil
}

// joinSelf is the child's half of the fast way on v1: "echo 0 > tasks" in
// each hierarchy moves the calling thread, the one that execs the command.
func joinSelf(ctx *steps.Context) error {
	for _, t := range ctx.Spec.CgroupTasks {
		ctx.Tracef("write(%d, \"0\"): this thread joins %s", t.FD, t.Path)
		_, err := unix.Write(t.FD, []byte("0"))
		unix.Close(t.FD)
		if err != nil {
			return fmt.Errorf("write 0 to %s: %w", t.Path, err)
		}
	}
	return nil
}

// Cleanup says whether the kernel killed the container for memory, then
// removes its cgroup. After a Prepare that stopped early there may be no
// record (nothing made) or only some directories.
func (Step) Cleanup(ctx *steps.Context) error {
	path := record.Path(ctx.Spec.Root, ctx.Spec.ID)
	cg, err := record.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if ctx.Exited {
		reportOOM(ctx, cg)
	}
	return removeCgroup(ctx, path, cg)
}

// reportOOM prints one line when the OOM killer struck in the container,
// from the kernel's own count (oomKills: memory.events on v2,
// memory.oom_control on v1): the exit status alone (137, SIGKILL) cannot
// tell an OOM kill from a kill -9.
func reportOOM(ctx *steps.Context, cg record.Record) {
	n, exact, err := oomKills(cg)
	if err != nil || n == 0 {
		return
	}
	limit := "no -m limit"
	if ctx.Spec.MemoryLimit > 0 {
		limit = "limit " + FormatSize(ctx.Spec.MemoryLimit)
	}
	switch {
	case steps.ExitCode(ctx.Status) == 128+int(unix.SIGKILL):
		ctx.Notef("container killed: out of memory (%s)", limit)
	case exact:
		ctx.Notef("out of memory: the kernel killed %d process(es) in the container (%s)", n, limit)
	}
}
