// Package cgroups is step 7: a cgroup limits what the container may use
// (memory, CPU time, number of processes), and a cgroup namespace makes that
// cgroup the root of what the container sees. It drives cgroup v2 and v1,
// whichever the host runs. See docs/07-cgroups.md, cgroups(7),
// cgroup_namespaces(7) and the kernel's Documentation/admin-guide/cgroup-v2.rst.
package cgroups

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is step 7.
type Step struct{}

func (Step) Number() int  { return 7 }
func (Step) Name() string { return "cgroups" }

// Validate parses -m, --cpus and --pids-limit as docker does, before
// anything is made.
func (Step) Validate(ctx *steps.Context) error {
	s := ctx.Spec
	if s.Rootless {
		// A cgroup is a directory under /sys/fs/cgroup, which belongs to
		// root. systemd can delegate a cgroup v2 subtree to a user (what
		// rootless podman runs in); mini does not use one.
		return fmt.Errorf("step 7 (cgroups) needs root: only root may create cgroups under %s (or a user given a delegated cgroup v2 subtree, which mini does not use): run with sudo, or use --step 6", cgroupRoot)
	}
	var err error
	if s.Memory != "" {
		if s.MemoryLimit, err = ParseMemory(s.Memory); err != nil {
			return err
		}
	}
	if s.CPUs != "" {
		if s.CPUQuota, s.CPUPeriod, err = ParseCPUs(s.CPUs); err != nil {
			return err
		}
	}
	if s.PidsLimit != "" {
		if s.PidsMax, err = ParsePidsLimit(s.PidsLimit); err != nil {
			return err
		}
	}
	return nil
}

// Prepare makes the container's cgroup and writes its limits, before the
// child exists, then arranges for the child to be in it before it execs
// (enter, in procs.go): the limits hold from the command's first
// instruction. Every run gets a cgroup, limits or not: it is what Cleanup
// kills and what the cgroup namespace shows as "/".
func (Step) Prepare(ctx *steps.Context) error {
	d, err := makeCgroup(ctx)
	if err != nil {
		return err
	}
	s := ctx.Spec
	if s.MemoryLimit > 0 {
		if err := d.setMemory(ctx, s.MemoryLimit); err != nil {
			return err
		}
	}
	if s.CPUQuota > 0 {
		if err := d.setCPU(ctx, s.CPUQuota, s.CPUPeriod); err != nil {
			return err
		}
	}
	if s.PidsMax > 0 {
		if err := d.setPids(ctx, s.PidsMax); err != nil {
			return err
		}
	}
	if s.OCI != nil {
		if err := setOCI(ctx, d, s.OCI); err != nil {
			return err
		}
	}
	return d.enter(ctx)
}

// makeCgroup makes the container's cgroup, no limits in it yet, with the
// driver of the host's cgroup version.
func makeCgroup(ctx *steps.Context) (driver, error) {
	reclaim(ctx)
	d, err := newDriver(ctx)
	if err != nil {
		return nil, err
	}
	r, err := newRecord(d)
	if err != nil {
		return nil, err
	}
	if ctx.Spec.OCI != nil {
		r.Path = ctx.Spec.OCI.CgroupsPath
	}
	// The record first: whatever is made after it can be found again.
	if err := r.save(ctx, recordPath(ctx.Spec)); err != nil {
		return nil, steps.StateError(fmt.Errorf("save the cgroup record: %w", err))
	}
	err = d.create(ctx)
	if r.Made = made(d); len(r.Made) > 0 && r.Path != "" {
		// Which cgroups above the container's mini made: Cleanup removes
		// them, and no others.
		if serr := r.save(ctx, recordPath(ctx.Spec)); serr != nil && err == nil {
			err = serr
		}
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// MakeCgroup is Prepare without the limits, for the lab (lab/07-cgroups),
// whose Prepare writes them: it makes the container's cgroup and returns the
// cgroup version, 1 or 2, and dir, which says where a controller's files
// are ("memory", "cpu", "pids").
func MakeCgroup(ctx *steps.Context) (version int, dir func(controller string) string, err error) {
	d, err := makeCgroup(ctx)
	if err != nil {
		return 0, nil, err
	}
	return d.version(), d.controllerDir, nil
}

// Dirs are the container's cgroup directories, one per hierarchy, from the
// record Prepare wrote. Exported for the lab (lab/07-cgroups), whose Attach
// moves the child into them the textbook way, through cgroup.procs.
func Dirs(spec *steps.Spec) ([]string, error) {
	r, err := loadRecord(recordPath(spec))
	if err != nil {
		return nil, err
	}
	return r.Dirs, nil
}

// Init runs in the child. On cgroup v1 it joins the cgroup first (on v2 it
// was born there). Then a new cgroup namespace makes the cgroups it is in
// now the root of what it sees, so /proc/self/cgroup says "/"
// (cgroup_namespaces(7)), and the host's cgroup paths stay hidden. It is an
// unshare here and not a clone flag because the namespace's root is fixed
// when it is made, from the cgroups of the process that makes it: on v1, at
// clone time, that is mini's. (On v2 a clone flag would do, since clone3
// roots a namespace it makes at the cgroup of CLONE_INTO_CGROUP; one way for
// both.) unshare(2) changes the calling thread only; the engine execs the
// command from this same thread.
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

// Cleanup says whether the kernel killed the container for memory, then
// kills anything left in its cgroup and removes it. After a Prepare that
// stopped early there may be no record (nothing made) or only some dirs.
func (Step) Cleanup(ctx *steps.Context) error {
	path := recordPath(ctx.Spec)
	r, err := loadRecord(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if ctx.Exited {
		reportOOM(ctx, r.driver())
	}
	return release(ctx, path, r)
}

// reportOOM prints one line when the OOM killer struck in the container,
// from the kernel's own count: the exit status alone (137, SIGKILL) cannot
// tell an OOM kill from a kill -9.
func reportOOM(ctx *steps.Context, d driver) {
	n, exact, err := d.oomKills()
	if err != nil || n == 0 {
		return
	}
	limit := "no -m limit"
	if ctx.Spec.MemoryLimit > 0 {
		limit = "limit " + FormatSize(ctx.Spec.MemoryLimit)
	}
	killed := steps.ExitCode(ctx.Status) == 128+int(unix.SIGKILL)
	switch {
	case killed:
		ctx.Notef("container killed: out of memory (%s)", limit)
	case exact:
		ctx.Notef("out of memory: the kernel killed %d process(es) in the container (%s)", n, limit)
	}
}
