package cgroups

import (
	"strconv"

	"mini/steps"
)

// Pids: pids.max is the most tasks (processes and threads) the cgroup may
// hold. Past it fork(2) and clone(2) fail with EAGAIN, so a fork bomb stops
// there; pids.events counts the refusals ("max N"). The file is the same on
// v1 and v2.

// setPids (v1): in the pids hierarchy.
func (d *v1) setPids(ctx *steps.Context, max int64) error {
	return Write(ctx, d.dir["pids"], "pids.max", strconv.FormatInt(max, 10))
}

// setPids (v2): in the container's one cgroup.
func (d *v2) setPids(ctx *steps.Context, max int64) error {
	return Write(ctx, d.dir, "pids.max", strconv.FormatInt(max, 10))
}

// pidsCurrent (v1): pids.current in the pids hierarchy.
func (d *v1) pidsCurrent() (int64, bool) {
	dir, found := d.dir["pids"]
	if !found {
		return 0, false
	}
	n, err := readInt(dir, "pids.current")
	return n, err == nil
}

// pidsCurrent (v2): pids.current, when the pids controller is on for the
// cgroup (with --pids-limit).
func (d *v2) pidsCurrent() (int64, bool) {
	n, err := readInt(d.dir, "pids.current")
	return n, err == nil
}
