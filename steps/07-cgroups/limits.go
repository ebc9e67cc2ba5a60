package cgroups

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"

	"mini/steps"
	"mini/steps/07-cgroups/internal/hierarchy"
)

// Validate parses -m, --cpus and --pids-limit as docker does, before
// anything is made.
func (Step) Validate(ctx *steps.Context) error {
	s := ctx.Spec
	if s.Rootless {
		// A cgroup is a directory under /sys/fs/cgroup, which belongs to
		// root. systemd can delegate a cgroup v2 subtree to a user (what
		// rootless podman runs in); mini does not use one.
		return fmt.Errorf("step 7 (cgroups) needs root: only root may create cgroups under %s (or a user given a delegated cgroup v2 subtree, which mini does not use): run with sudo, or use --step 6", hierarchy.Root)
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

// minMemory is docker's smallest -m: "Minimum memory limit allowed is 6MB".
// Below it the container's own runtime (a shell, mini's init) barely starts.
const minMemory = 6 << 20

// cpuPeriod is the CFS period --cpus is spread over, docker's 100ms.
// --cpus 0.5 becomes a quota of 50ms of CPU time per 100ms.
const cpuPeriod = 100_000 // µs

// minQuota is the smallest CFS quota the kernel accepts, 1ms (see
// Documentation/scheduler/sched-bwc.rst), so --cpus goes down to 0.01.
const minQuota = 1_000 // µs

// maxPids is PID_MAX_LIMIT on 64-bit, the most pids.max can say.
const maxPids = 4 << 20

// units are the suffixes of docker's sizes, powers of 1024 like docker's
// RAMInBytes: 64m is 64 MiB.
var units = map[string]int64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

// ParseMemory reads -m as docker does: a number, optionally with a fraction,
// then an optional unit letter (k, m, g, t, p, any case), optionally
// followed by "i" and/or "b": 64m, 64MB, 64MiB, 1.5g, 1048576.
func ParseMemory(s string) (int64, error) {
	bad := fmt.Errorf("-m %q: want a size such as 64m or 1g (a number, then b, k, m, g, t or p)", s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimPrefix(s[i:], " "))
	unit = strings.TrimSuffix(unit, "b")
	unit = strings.TrimSuffix(unit, "i")
	mult, ok := units[unit]
	if num == "" || !ok {
		return 0, bad
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	size := n * float64(mult)
	if size >= math.MaxInt64 {
		return 0, fmt.Errorf("-m %q: too large", s)
	}
	if size < minMemory {
		return 0, fmt.Errorf("-m %q: the memory limit must be at least 6MiB, as docker's; leave -m out for no limit", s)
	}
	return int64(size), nil
}

// ParseCPUs reads --cpus, a number of CPUs such as 0.5 or 1.5, and returns
// it as a CFS quota per period: how many µs of CPU time the container may
// use in each period of cpuPeriod µs, spread over any number of CPUs.
func ParseCPUs(s string) (quota, period int64, err error) {
	ncpu := runtime.NumCPU() // the CPUs mini may run on, sched_getaffinity(2)
	bad := fmt.Errorf("--cpus %q: want a number of CPUs from 0.01 to %d, such as 0.5", s, ncpu)
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || n < 0.01 || n > float64(ncpu) {
		return 0, 0, bad
	}
	quota = int64(math.Round(n * cpuPeriod))
	if quota < minQuota {
		return 0, 0, bad
	}
	return quota, cpuPeriod, nil
}

// ParsePidsLimit reads --pids-limit: how many tasks (processes and threads)
// the container may have at once; -1 means no limit, as in docker.
func ParsePidsLimit(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 || n < -1 || n > maxPids {
		return 0, fmt.Errorf("--pids-limit %q: want a number of processes from 1 to %d, or -1 for no limit", s, maxPids)
	}
	if n == -1 {
		return 0, nil
	}
	return n, nil
}

// FormatSize writes bytes in the largest binary unit that divides them
// exactly: 33554432 is 32MiB.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
