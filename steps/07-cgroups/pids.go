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
