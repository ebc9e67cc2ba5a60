package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/07-cgroups/internal/hierarchy"
	"mini/steps/07-cgroups/internal/record"
)

// What an OCI config asks of the cgroup beyond mini run's -m, --cpus and
// --pids-limit (config-linux.md, "Control groups"): where it goes
// (cgroupsPath), CPU shares and the CPUs and memory nodes it may use,
// a memory reservation, swap, and the devices it may open.

// joins are the v1 hierarchies the container goes in: those of
// hierarchy.V1Controllers, and for an OCI config the cpuset (when it names
// CPUs or memory nodes: an empty cpuset cgroup takes no task), devices
// and freezer hierarchies too.
func joins(s *steps.Spec) []string {
	if s.OCI == nil {
		return hierarchy.V1Controllers
	}
	out := append([]string{}, hierarchy.V1Controllers...)
	if s.OCI.CPUSetCPUs != "" || s.OCI.CPUSetMems != "" {
		out = append(out, "cpuset")
	}
	return append(out, "devices", "freezer")
}

// ociControllers are the controllers an OCI config's resources use beyond
// the -m, --cpus and --pids-limit of mini run (controllers).
func ociControllers(o *steps.OCI) []string {
	var out []string
	if o.MemoryReservation != 0 || o.MemorySwap != 0 || o.Swappiness != nil || o.DisableOOMKiller {
		out = append(out, "memory")
	}
	if o.CPUShares > 0 {
		out = append(out, "cpu")
	}
	if o.CPUSetCPUs != "" || o.CPUSetMems != "" {
		out = append(out, "cpuset")
	}
	return out
}

// ociPlace puts the cgroup where an OCI config's cgroupsPath says, in
// place of mini-<id>: an absolute path from each hierarchy's root (as the
// spec says), a relative one under the parent mini chose.
func ociPlace(p hierarchy.Place, o *steps.OCI) (hierarchy.Place, error) {
	if o.CgroupsPath == "" {
		return p, nil
	}
	rel := filepath.Clean(o.CgroupsPath)
	if !filepath.IsAbs(rel) && (rel == "." || rel == ".." || strings.HasPrefix(rel, "../")) {
		return p, fmt.Errorf("linux.cgroupsPath %q: a relative path must lead below mini's cgroup", o.CgroupsPath)
	}
	for c, dir := range p.Dirs {
		var err error
		if filepath.IsAbs(rel) {
			dir, err = hierarchy.HostDir(p.Mounts[c], rel)
		} else {
			dir = filepath.Join(filepath.Dir(dir), rel)
		}
		if err != nil {
			return p, err
		}
		p.Dirs[c] = dir
		if p.Version == 2 {
			if p.Parents, err = hierarchy.Chain(p.Mounts[c].Point, filepath.Dir(dir)); err != nil {
				return p, fmt.Errorf("linux.cgroupsPath %q: %w", o.CgroupsPath, err)
			}
		}
	}
	return p, nil
}

// makeAbove makes the cgroups missing above the container's, which a deep
// cgroupsPath may name, and records them in cg.Made: Cleanup removes them,
// and no others (runtime.md: delete removes what create made).
func makeAbove(ctx *steps.Context, p hierarchy.Place, cg *record.Record) error {
	if cg.Path == "" {
		return nil
	}
	var above []string
	if cg.Version == 2 {
		above = p.Parents
	} else {
		for c, dir := range cg.Dirs {
			chain, err := hierarchy.Chain(p.Mounts[c].Point, filepath.Dir(dir))
			if err != nil {
				return err
			}
			above = append(above, chain...)
		}
	}
	path := record.Path(ctx.Spec.Root, ctx.Spec.ID)
	cpuset := p.Mounts["cpuset"].Point
	for _, dir := range above {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		// The record first, as for the container's own cgroup: a mini
		// killed after the mkdir leaves nothing that no record names.
		cg.Made = append(cg.Made, dir)
		if err := cg.Save(path); err != nil {
			return steps.StateError(fmt.Errorf("save the cgroup record: %w", err))
		}
		ctx.Tracef("mkdir(%q)", dir)
		if err := unix.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", dir, err)
		}
		if cpuset != "" && strings.HasPrefix(dir, cpuset+"/") {
			if err := inheritCpuset(ctx, dir); err != nil {
				return err
			}
		}
	}
	return nil
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
func setOCI(ctx *steps.Context, cg record.Record, o *steps.OCI) error {
	if cg.Version == 2 {
		return setOCIV2(ctx, dirOf(cg, ""), o)
	}
	return setOCIV1(ctx, cg, o)
}

// setOCIV1: cpu.shares; cpuset.cpus and .mems (the parent's first: a new
// cpuset cgroup has none); the memory reservation
// (memory.soft_limit_in_bytes, what the kernel reclaims down to first under
// pressure); memory+swap (memory.memsw.limit_in_bytes); swappiness; the
// OOM killer off (memory.oom_control: the container's tasks wait instead);
// and the device rules.
func setOCIV1(ctx *steps.Context, cg record.Record, o *steps.OCI) error {
	if dir, ok := cg.Dirs["cpuset"]; ok {
		if err := inheritCpuset(ctx, dir); err != nil {
			return err
		}
	}
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
	if len(o.DeviceRules) > 0 {
		// Each rule a line in devices.allow or devices.deny, in order: "a"
		// every device, "c 1:3 rwm" one (cgroup-v1/devices.rst).
		for _, r := range o.DeviceRules {
			file := "devices.deny"
			if r.Allow {
				file = "devices.allow"
			}
			writes = append(writes, [3]string{"devices", file, ruleLine(r)})
		}
	}
	for _, w := range writes {
		dir, ok := cg.Dirs[w[0]]
		if !ok {
			return fmt.Errorf("the cgroup v1 %s controller is not mounted: mount it at %s/%s", w[0], hierarchy.Root, w[0])
		}
		if err := Write(ctx, dir, w[1], w[2]); err != nil {
			return err
		}
	}
	return nil
}

// setOCIV2: cpu.weight from the shares (runc's conversion, from 2..262144
// onto 1..10000); cpuset.cpus and .mems; memory.low for the reservation;
// memory.swap.max, which counts swap alone; and the device rules, a BPF
// program (devices.go). v2 has no swappiness and no switch for the OOM
// killer per cgroup.
func setOCIV2(ctx *steps.Context, dir string, o *steps.OCI) error {
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
			limit, _ := readInt(dir, "memory.max")
			if limit == 0 || o.MemorySwap < limit {
				return fmt.Errorf("linux.resources.memory.swap %d: on cgroup v2 it needs a memory limit no larger than it (memory and swap together)", o.MemorySwap)
			}
			swap = strconv.FormatInt(o.MemorySwap-limit, 10)
		}
		writes = append(writes, [2]string{"memory.swap.max", swap})
	}
	for _, w := range writes {
		if err := Write(ctx, dir, w[0], w[1]); err != nil {
			return err
		}
	}
	if len(o.DeviceRules) > 0 {
		return setDevicesV2(ctx, dir, o.DeviceRules)
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
	path := record.Path(ctx.Spec.Root, ctx.Spec.ID)
	cg, err := record.Load(path)
	if err != nil {
		return err
	}
	cg.Owner = ctx.Init
	ctx.Tracef("write %s: owner pid %d, the container's init", path, cg.Owner.PID)
	if err := cg.Save(path); err != nil {
		return steps.StateError(fmt.Errorf("save the cgroup record: %w", err))
	}
	return nil
}
