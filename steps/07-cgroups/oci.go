package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"mini/steps"
)

// What an OCI config asks of the cgroup beyond mini run's -m, --cpus and
// --pids-limit (config-linux.md, "Control groups"): where it goes
// (cgroupsPath), CPU shares and the CPUs and memory nodes it may use,
// a memory reservation, swap, and the devices it may open.

// place is where the container's cgroup goes in the hierarchy mounted as
// m: name under parent (mini's choice), or an OCI config's cgroupsPath, an
// absolute one from the hierarchy's root (as the spec says), a relative
// one under parent.
func place(spec *steps.Spec, m mount, parent, name string) (string, error) {
	if spec.OCI == nil || spec.OCI.CgroupsPath == "" {
		return filepath.Join(parent, name), nil
	}
	p := filepath.Clean(spec.OCI.CgroupsPath)
	if filepath.IsAbs(p) {
		return hostDir(m, p)
	}
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("linux.cgroupsPath %q: a relative path must lead below mini's cgroup", spec.OCI.CgroupsPath)
	}
	return filepath.Join(parent, p), nil
}

// mkdirAll makes dir and the cgroups missing above it, and returns those
// it made, parents first.
func mkdirAll(ctx *steps.Context, dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{d}, missing...)
	}
	var made []string
	for _, d := range missing {
		if err := mkdir(ctx, d); err != nil {
			return made, err
		}
		made = append(made, d)
	}
	return made, nil
}

// inheritCpuset gives a new v1 cpuset cgroup its parent's CPUs and memory
// nodes: it starts with none, and a task may not join a cpuset without
// them (cpusets(7)).
func inheritCpuset(ctx *steps.Context, dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return err
		}
		if v := strings.TrimSpace(string(data)); v != "" {
			if err := Write(ctx, dir, f, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// setOCI writes the limits of an OCI config that mini run has no flag for.
func setOCI(ctx *steps.Context, d driver, o *steps.OCI) error {
	switch d := d.(type) {
	case *v1:
		return d.setOCI(ctx, o)
	case *v2:
		return d.setOCI(ctx, o)
	}
	return nil
}

// setOCI (v1): cpu.shares; cpuset.cpus and .mems; the memory reservation
// (memory.soft_limit_in_bytes, what the kernel reclaims down to first under
// pressure); memory+swap (memory.memsw.limit_in_bytes); swappiness; the
// OOM killer off (memory.oom_control: the container's tasks wait instead);
// and the device rules.
func (d *v1) setOCI(ctx *steps.Context, o *steps.OCI) error {
	var writes [][3]string
	if o.CPUShares > 0 {
		writes = append(writes, [3]string{"cpu", "cpu.shares", strconv.FormatUint(o.CPUShares, 10)})
	}
	if o.CPUSetCPUs != "" {
		writes = append(writes, [3]string{"cpuset", "cpuset.cpus", o.CPUSetCPUs})
	}
	if o.CPUSetMems != "" {
		writes = append(writes, [3]string{"cpuset", "cpuset.mems", o.CPUSetMems})
	}
	if o.MemoryReservation != 0 {
		writes = append(writes, [3]string{"memory", "memory.soft_limit_in_bytes", strconv.FormatInt(o.MemoryReservation, 10)})
	}
	if o.MemorySwap != 0 {
		writes = append(writes, [3]string{"memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(o.MemorySwap, 10)})
	}
	if o.Swappiness != nil {
		writes = append(writes, [3]string{"memory", "memory.swappiness", strconv.FormatUint(*o.Swappiness, 10)})
	}
	if o.DisableOOMKiller {
		writes = append(writes, [3]string{"memory", "memory.oom_control", "1"})
	}
	for _, w := range writes {
		dir, ok := d.dir[w[0]]
		if !ok {
			return fmt.Errorf("the cgroup v1 %s controller is not mounted: mount it at %s/%s", w[0], cgroupRoot, w[0])
		}
		if err := Write(ctx, dir, w[1], w[2]); err != nil {
			return err
		}
	}
	if len(o.DeviceRules) > 0 {
		return d.setDevices(ctx, o.DeviceRules)
	}
	return nil
}

// setOCI (v2): cpu.weight from the shares (runc's conversion, from 2..262144
// onto 1..10000); cpuset.cpus and .mems; memory.low for the reservation;
// memory.swap.max, which counts swap alone; and the device rules, a BPF
// program (devices.go). v2 has no swappiness and no switch for the OOM
// killer per cgroup.
func (d *v2) setOCI(ctx *steps.Context, o *steps.OCI) error {
	if o.Swappiness != nil {
		return errors.New("linux.resources.memory.swappiness: cgroup v2 has no swappiness per cgroup: leave it out")
	}
	if o.DisableOOMKiller {
		return errors.New("linux.resources.memory.disableOOMKiller: cgroup v2 cannot turn the OOM killer off for a cgroup: leave it out")
	}
	var writes [][2]string
	if o.CPUShares > 0 {
		writes = append(writes, [2]string{"cpu.weight", strconv.FormatUint(1+((o.CPUShares-2)*9999)/262142, 10)})
	}
	if o.CPUSetCPUs != "" {
		writes = append(writes, [2]string{"cpuset.cpus", o.CPUSetCPUs})
	}
	if o.CPUSetMems != "" {
		writes = append(writes, [2]string{"cpuset.mems", o.CPUSetMems})
	}
	if o.MemoryReservation != 0 {
		writes = append(writes, [2]string{"memory.low", strconv.FormatInt(o.MemoryReservation, 10)})
	}
	if o.MemorySwap != 0 {
		swap := "max"
		if o.MemorySwap > 0 {
			limit, _ := readInt(d.dir, "memory.max")
			if limit == 0 || o.MemorySwap < limit {
				return fmt.Errorf("linux.resources.memory.swap %d: on cgroup v2 it needs a memory limit no larger than it (memory and swap together)", o.MemorySwap)
			}
			swap = strconv.FormatInt(o.MemorySwap-limit, 10)
		}
		writes = append(writes, [2]string{"memory.swap.max", swap})
	}
	for _, w := range writes {
		if err := Write(ctx, d.dir, w[0], w[1]); err != nil {
			return err
		}
	}
	if len(o.DeviceRules) > 0 {
		return d.setDevices(ctx, o.DeviceRules)
	}
	return nil
}

// setDevices (v1): each rule is a line written to devices.allow or
// devices.deny, in order: "a" denies or allows every device, "c 1:3 rwm"
// one (Documentation/admin-guide/cgroup-v1/devices.rst).
func (d *v1) setDevices(ctx *steps.Context, rules []steps.DeviceRule) error {
	dir, ok := d.dir["devices"]
	if !ok {
		return fmt.Errorf("the cgroup v1 devices controller is not mounted: mount it at %s/devices", cgroupRoot)
	}
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := Write(ctx, dir, file, ruleLine(r)); err != nil {
			return err
		}
	}
	return nil
}

// ruleLine spells a rule as the v1 devices files take it.
func ruleLine(r steps.DeviceRule) string {
	if r.Type == "a" || r.Type == "" {
		return "a *:* " + r.Access
	}
	n := func(x int64) string {
		if x < 0 {
			return "*"
		}
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprintf("%s %s:%s %s", r.Type, n(r.Major), n(r.Minor), r.Access)
}

// Started hands the cgroup to the container once it outlives this mini
// (an OCI container, Spec.WaitStart): its record then names the
// container's init as its owner, so that no later mini reclaims the cgroup
// of a container that still runs; mini delete removes it.
func (Step) Started(ctx *steps.Context) error {
	if !ctx.Spec.WaitStart || ctx.Init.PID == 0 {
		return nil
	}
	path := recordPath(ctx.Spec)
	r, err := loadRecord(path)
	if err != nil {
		return err
	}
	r.Owner = ctx.Init
	return r.save(ctx, path)
}
