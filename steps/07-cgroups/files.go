package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/07-cgroups/internal/hierarchy"
	"mini/steps/07-cgroups/internal/kill"
	"mini/steps/07-cgroups/internal/record"
)

// cgroupName is the container's cgroup directory name, in every hierarchy.
func cgroupName(id string) string { return "mini-" + id }

// controllers are the controllers the container's limits use.
func controllers(s *steps.Spec) []string {
	var out []string
	if s.MemoryLimit > 0 {
		out = append(out, "memory")
	}
	if s.CPUQuota > 0 {
		out = append(out, "cpu")
	}
	if s.PidsMax > 0 {
		out = append(out, "pids")
	}
	if s.OCI != nil {
		for _, c := range ociControllers(s.OCI) {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// dirOf is where controller c's files are: on v2 the one directory, on v1
// the directory in c's hierarchy.
func dirOf(cg record.Record, c string) string {
	if cg.Version == 2 {
		return cg.Dirs[""]
	}
	return cg.Dirs[c]
}

// dirs lists each of the container's cgroup directories once: on v1 in the
// order of hierarchy.V1Controllers (cpu and cpuacct may share one).
func dirs(cg record.Record) []string {
	if cg.Version == 2 {
		return []string{cg.Dirs[""]}
	}
	var out []string
	for _, c := range slices.Concat(hierarchy.V1Controllers, hierarchy.V1Extra) {
		if dir, ok := cg.Dirs[c]; ok && !slices.Contains(out, dir) {
			out = append(out, dir)
		}
	}
	return out
}

// saveRecord writes the record of the cgroup p places, owned by this mini.
func saveRecord(ctx *steps.Context, p hierarchy.Place) (record.Record, error) {
	me, err := steps.Self()
	if err != nil {
		return record.Record{}, err
	}
	cg := record.Record{Owner: me, Version: p.Version, Dirs: p.Dirs}
	if ctx.Spec.OCI != nil {
		cg.Path = ctx.Spec.OCI.CgroupsPath
	}
	path := record.Path(ctx.Spec.Root, ctx.Spec.ID)
	ctx.Tracef("write %s: owner pid %d, %v", path, me.PID, dirs(cg))
	if err := cg.Save(path); err != nil {
		return cg, steps.StateError(fmt.Errorf("save the cgroup record: %w", err))
	}
	return cg, nil
}

// readOwner is the owner of a record, for steps.ReclaimDead, if the record
// names only cgroups mini would have made (record.Mine).
func readOwner(path string) (steps.Owner, error) {
	cg, err := record.Load(path)
	if err != nil {
		return steps.Owner{}, err
	}
	if err := record.Mine(path, cg, cgroupName); err != nil {
		return steps.Owner{}, err
	}
	return cg.Owner, nil
}

// enable writes "+c" to dir/cgroup.subtree_control for each controller c
// not on there already, all in one write. mini does not turn them off
// again: other cgroups may rely on them by then (runc and docker leave them
// on too). On a systemd host the root passes down only memory and pids
// until someone asks for cpu.
func enable(ctx *steps.Context, dir string, want []string) error {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read %s/cgroup.subtree_control: %w", dir, err)
	}
	on := strings.Fields(string(data))
	var add []string
	for _, c := range want {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = Write(ctx, dir, "cgroup.subtree_control", strings.Join(add, " "))
	switch {
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w (this cgroup holds processes, and cgroup v2 lets only a cgroup without processes pass controllers to its children)", err)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w (a controller is not available here: see %s/cgroup.controllers)", err, dir)
	}
	return err
}

// write writes file = value in dir, then file2 = value2 if file2 exists:
// some files depend on the kernel's configuration (memory.swap.max,
// memory.memsw.*).
func write(ctx *steps.Context, dir, file, value, file2, value2 string) error {
	if err := Write(ctx, dir, file, value); err != nil {
		return err
	}
	if !Exists(dir, file2) {
		return nil
	}
	return Write(ctx, dir, file2, value2)
}

// Write writes value to a cgroup file, as `echo value > dir/file` does. The
// files exist already: the kernel makes them with the directory. Exported
// for the lab (lab/07-cgroups), whose limits and join write with it.
func Write(ctx *steps.Context, dir, file, value string) error {
	path := filepath.Join(dir, file)
	ctx.Tracef("echo %s > %s", value, path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return f.Close()
}

// Exists says whether a cgroup file exists: some depend on the kernel's
// configuration (memory.memsw.*, memory.swap.max) or version (cgroup.kill).
// Exported for the lab (lab/07-cgroups).
func Exists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}

// readKeyed reads one value of a "key value" file such as memory.events.
func readKeyed(dir, file, key string) (n int64, found bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil, err
		}
	}
	return 0, false, nil
}

// readInt reads a file that holds one number, such as memory.current; "max"
// (cgroup v2's "no limit") reads as 0.
func readInt(dir, file string) (int64, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	v := strings.TrimSpace(string(data))
	if v == "max" {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// MakeCgroup is Prepare without the limits and without the way in, for the
// lab (lab/07-cgroups), whose Prepare writes them and whose Attach moves
// the child in: it makes the container's cgroup and returns the cgroup
// version, 1 or 2, and dir, which says where a controller's files are
// ("memory", "cpu", "pids").
func MakeCgroup(ctx *steps.Context) (version int, dir func(controller string) string, err error) {
	cg, err := makeCgroup(ctx)
	if err != nil {
		return 0, nil, err
	}
	return cg.Version, func(c string) string { return dirOf(cg, c) }, nil
}

// Dirs are the container's cgroup directories, one per hierarchy, from the
// record Prepare wrote. Exported for the lab (lab/07-cgroups), whose Attach
// moves the child into them the textbook way, as moveIn does.
func Dirs(spec *steps.Spec) ([]string, error) {
	cg, err := record.Load(record.Path(spec.Root, spec.ID))
	if err != nil {
		return nil, err
	}
	return dirs(cg), nil
}

// release removes the cgroups of the record at path with rmdir(2) (their
// files are the kernel's, not files to delete one by one), then the
// record. Usually they are empty by now: when the container's init exits,
// the kernel kills the rest of its PID namespace (pid_namespaces(7)). Only
// a cgroup that still holds processes (EBUSY: processes moved in from
// outside, a run whose mini was killed before its child) is emptied first.
// It is Cleanup for this run and reclaim for a dead one.
func release(ctx *steps.Context) func(path string) error {
	return func(path string) error {
		cg, err := record.Load(path)
		if err != nil {
			return err
		}
		return removeCgroup(ctx, path, cg)
	}
}

// removeCgroup is release of the record cg, read from path.
func removeCgroup(ctx *steps.Context, path string, cg record.Record) error {
	var errs []error
	for _, dir := range dirs(cg) {
		err := rmdir(ctx, dir)
		if errors.Is(err, unix.EBUSY) {
			if err = kill.Empty(ctx, dir); err == nil {
				err = rmdir(ctx, dir)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // keep the record: the next run tries again
	}
	// The cgroups made above an OCI container's (makeAbove), if nothing
	// else is in them by now: rmdir(2) leaves one that is not empty.
	for i := len(cg.Made) - 1; i >= 0; i-- {
		ctx.Tracef("rmdir(%q)", cg.Made[i])
		_ = unix.Rmdir(cg.Made[i])
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// rmdir removes an empty cgroup; one already gone is fine.
func rmdir(ctx *steps.Context, dir string) error {
	ctx.Tracef("rmdir(%q)", dir)
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("rmdir %s: %w", dir, err)
	}
	return nil
}

// oomKills says how many processes the OOM killer killed in the cgroup: on
// v2 "oom_kill" in memory.events (there only with -m, the memory
// controller on); on v1 "oom_kill" in memory.oom_control, since Linux
// 4.13. Before, only memory.failcnt tells how often the limit was hit:
// exact is false then.
func oomKills(cg record.Record) (n int64, exact bool, err error) {
	if cg.Version == 2 {
		n, _, err = readKeyed(dirOf(cg, ""), "memory.events", "oom_kill")
		if errors.Is(err, os.ErrNotExist) {
			return 0, true, nil
		}
		return n, true, err
	}
	dir, ok := cg.Dirs["memory"]
	if !ok {
		return 0, true, nil
	}
	n, found, err := readKeyed(dir, "memory.oom_control", "oom_kill")
	if err != nil || found {
		return n, true, err
	}
	n, err = readInt(dir, "memory.failcnt")
	return n, false, err
}
