package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"mini/steps"
)

// Memory: a hard limit on the memory the container's processes use (their
// anonymous memory, page cache, tmpfs files, kernel memory). Past it the
// kernel reclaims what it can, and when nothing is left, the OOM killer
// kills a process of the container. Swap is not counted on top: with swap
// the container would slow down instead of being killed, and how far depends
// on the host, so the same -m would behave differently on each machine.

// setMemory (v1): memory.limit_in_bytes limits memory; with swap accounting
// (CONFIG_MEMCG_SWAP, swapaccount=1) memory.memsw.limit_in_bytes limits
// memory+swap, and the same value leaves no room for swap. Without it,
// memory.swappiness=0 keeps the kernel from swapping the cgroup out. The
// memsw limit may never be below the memory limit: memory first.
func (d *v1) setMemory(ctx *steps.Context, limit int64) error {
	dir := d.dir["memory"]
	n := strconv.FormatInt(limit, 10)
	if err := Write(ctx, dir, "memory.limit_in_bytes", n); err != nil {
		return err
	}
	if Exists(dir, "memory.memsw.limit_in_bytes") {
		return Write(ctx, dir, "memory.memsw.limit_in_bytes", n)
	}
	return Write(ctx, dir, "memory.swappiness", "0")
}

// setMemory (v2): memory.max is the hard limit; memory.swap.max=0 forbids
// swap (the file exists when the kernel accounts swap).
func (d *v2) setMemory(ctx *steps.Context, limit int64) error {
	if err := Write(ctx, d.dir, "memory.max", strconv.FormatInt(limit, 10)); err != nil {
		return err
	}
	if Exists(d.dir, "memory.swap.max") {
		return Write(ctx, d.dir, "memory.swap.max", "0")
	}
	return nil
}

// oomKills (v1): memory.oom_control has an "oom_kill N" line since Linux
// 4.13. Before, only memory.failcnt tells: how often the limit was hit.
func (d *v1) oomKills() (int64, bool, error) {
	dir, ok := d.dir["memory"]
	if !ok {
		return 0, true, nil
	}
	n, found, err := readKeyed(dir, "memory.oom_control", "oom_kill")
	if err != nil || found {
		return n, true, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "memory.failcnt"))
	if err != nil {
		return 0, false, err
	}
	n, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n, false, err
}

// oomKills (v2): memory.events counts "oom_kill" events. The file exists
// only when the memory controller is on for the cgroup, that is with -m.
func (d *v2) oomKills() (int64, bool, error) {
	n, _, err := readKeyed(d.dir, "memory.events", "oom_kill")
	if errors.Is(err, os.ErrNotExist) {
		return 0, true, nil
	}
	return n, true, err
}

// noLimitV1 is what memory.limit_in_bytes says without a limit: the
// largest multiple of the page size below 2^63.
const noLimitV1 = 1 << 62

// memoryUsage (v1): memory.usage_in_bytes less the page cache the kernel
// may drop first (total_inactive_file in memory.stat), as docker stats
// shows it; memory.limit_in_bytes, whose "no limit" is a huge number.
func (d *v1) memoryUsage() (used, limit int64, ok bool) {
	dir, found := d.dir["memory"]
	if !found {
		return 0, 0, false
	}
	used, err := readInt(dir, "memory.usage_in_bytes")
	if err != nil {
		return 0, 0, false
	}
	if inactive, found, err := readKeyed(dir, "memory.stat", "total_inactive_file"); err == nil && found && inactive < used {
		used -= inactive
	}
	if limit, err = readInt(dir, "memory.limit_in_bytes"); err != nil || limit >= noLimitV1 {
		limit = 0
	}
	return used, limit, true
}

// memoryUsage (v2): memory.current less inactive_file, and memory.max. Both
// exist only when the memory controller is on for the cgroup (with -m).
func (d *v2) memoryUsage() (used, limit int64, ok bool) {
	used, err := readInt(d.dir, "memory.current")
	if err != nil {
		return 0, 0, false
	}
	if inactive, found, err := readKeyed(d.dir, "memory.stat", "inactive_file"); err == nil && found && inactive < used {
		used -= inactive
	}
	limit, _ = readInt(d.dir, "memory.max")
	return used, limit, true
}
