package cgroups

import (
	"fmt"
	"strconv"

	"mini/steps"
)

// CPU: the CFS bandwidth controller lets the container's processes run for
// at most quota µs of CPU time in each period of period µs, summed over all
// CPUs (Documentation/scheduler/sched-bwc.rst). Once the quota is spent they
// wait, throttled, for the next period. --cpus 0.5 is 50000 per 100000.

// setCPU (v1): two files, cpu.cfs_period_us and cpu.cfs_quota_us.
func (d *v1) setCPU(ctx *steps.Context, quota, period int64) error {
	dir := d.dir["cpu"]
	if err := Write(ctx, dir, "cpu.cfs_period_us", strconv.FormatInt(period, 10)); err != nil {
		return err
	}
	return Write(ctx, dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
}

// setCPU (v2): one file, cpu.max, "QUOTA PERIOD" ("max" for no limit).
func (d *v2) setCPU(ctx *steps.Context, quota, period int64) error {
	return Write(ctx, d.dir, "cpu.max", fmt.Sprintf("%d %d", quota, period))
}

// cpuUsage (v1): cpuacct.usage, the CPU time the cgroup's tasks used, in ns.
func (d *v1) cpuUsage() (int64, bool) {
	dir, found := d.dir["cpuacct"]
	if !found {
		return 0, false
	}
	n, err := readInt(dir, "cpuacct.usage")
	return n, err == nil
}

// cpuUsage (v2): usage_usec in cpu.stat, which every cgroup has, with the
// cpu controller on or not.
func (d *v2) cpuUsage() (int64, bool) {
	us, found, err := readKeyed(d.dir, "cpu.stat", "usage_usec")
	return us * 1000, err == nil && found
}
