package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// cgroupRoot is where systemd and every distribution mount cgroups.
const cgroupRoot = "/sys/fs/cgroup"

// driver is one cgroup version's way to do things. v1 has a hierarchy per
// controller, v2 one unified hierarchy; they name the same limits with
// different files. memory.go, cpu.go and pids.go hold each controller's
// files for both versions, side by side.
type driver interface {
	// version is 1 or 2.
	version() int
	// dirs are the container's cgroup directories, one per hierarchy.
	dirs() []string
	// create makes them (and on v2 enables the controllers above them).
	create(ctx *steps.Context) error
	// controllerDir is where controller c's files are: on v2 the one
	// directory, on v1 the directory in c's hierarchy.
	controllerDir(c string) string

	// enter arranges for the child to be in the cgroup before it execs
	// (procs.go).
	enter(ctx *steps.Context) error

	setMemory(ctx *steps.Context, limit int64) error
	setCPU(ctx *steps.Context, quota, period int64) error
	setPids(ctx *steps.Context, max int64) error
	// oomKills says how many processes the kernel's OOM killer killed in
	// the cgroup. exact is false when the kernel does not count them (v1
	// before Linux 4.13): n is then how often the limit was hit.
	oomKills() (n int64, exact bool, err error)

	// What the cgroup uses, for mini stats (usage.go): CPU time in ns,
	// memory in bytes and its limit (0: none), tasks. A controller the
	// cgroup does not have says ok false.
	cpuUsage() (ns int64, ok bool)
	memoryUsage() (used, limit int64, ok bool)
	pidsCurrent() (n int64, ok bool)
}

// cgroupName is the container's cgroup directory name, in every hierarchy.
func cgroupName(id string) string { return "mini-" + id }

// newDriver finds out which cgroup version the host runs and where the
// container's cgroup goes: under the cgroup mini itself is in, as runc does,
// so limits put on mini (a systemd unit, a CI job) bound its containers too.
func newDriver(ctx *steps.Context) (driver, error) {
	mounts, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	own, err := readProcCgroup("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	// cgroup v2 only when /sys/fs/cgroup itself is cgroup2. A "hybrid"
	// host (systemd's default for years) mounts v1 hierarchies there and a
	// mostly empty cgroup2 at /sys/fs/cgroup/unified: that host is v1.
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w (are cgroups mounted?)", cgroupRoot, err)
	}
	name := cgroupName(ctx.Spec.ID)
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		ctx.Tracef("statfs(%q): cgroup2, one unified hierarchy: the cgroup v2 driver", cgroupRoot)
		for _, m := range mounts {
			if m.fstype == "cgroup2" && m.point == cgroupRoot {
				return newV2(ctx.Spec, m, own, name)
			}
		}
		return nil, fmt.Errorf("no cgroup2 mount at %s in /proc/self/mountinfo", cgroupRoot)
	}
	ctx.Tracef("statfs(%q): not cgroup2, a hierarchy per controller: the cgroup v1 driver", cgroupRoot)
	return newV1(ctx.Spec, mounts, own, name)
}

// mount is a cgroup filesystem from /proc/self/mountinfo.
type mount struct {
	root   string   // which cgroup of the hierarchy is mounted (field 4)
	point  string   // where (field 5)
	fstype string   // cgroup or cgroup2
	opts   []string // super options: the v1 controllers, "rw", ...
}

// readMountinfo lists the cgroup mounts (proc_pid_mountinfo(5)).
func readMountinfo(path string) ([]mount, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseMountinfo(string(data)), nil
}

// parseMountinfo reads lines like
//
//	35 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory
//
// The optional fields end at "-"; after it come fstype, source, options.
func parseMountinfo(data string) []mount {
	var out []mount
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		dash := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				dash = i
				break
			}
		}
		if dash < 0 || dash+3 >= len(f) {
			continue
		}
		if fstype := f[dash+1]; fstype == "cgroup" || fstype == "cgroup2" {
			out = append(out, mount{root: unescape(f[3]), point: unescape(f[4]), fstype: fstype, opts: strings.Split(f[dash+3], ",")})
		}
	}
	return out
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and \.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readProcCgroup reads which cgroup mini is in, in each hierarchy
// (cgroups(7), /proc/[pid]/cgroup): a map from controller to path. The v2
// line "0::/path" is under the key "".
func readProcCgroup(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseProcCgroup(string(data)), nil
}

// parseProcCgroup reads lines "hierarchy-ID:controller-list:path", such as
// "4:memory:/user.slice" or "1:cpu,cpuacct:/" (v1) and "0::/user.slice" (v2).
func parseProcCgroup(data string) map[string]string {
	own := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own
}

// hostDir is where cgroup path p of a hierarchy mounted as m is on the host:
// the mount shows the hierarchy from m.root down, so /a/b of a mount of /a
// at /sys/fs/cgroup/x is /sys/fs/cgroup/x/b.
func hostDir(m mount, p string) (string, error) {
	rel, err := filepath.Rel(m.root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("mini's cgroup %s is outside the cgroup mount at %s (root %s)", p, m.point, m.root)
	}
	return filepath.Join(m.point, rel), nil
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

// mkdir makes one cgroup: the kernel fills the new directory with the
// controllers' files.
func mkdir(ctx *steps.Context, dir string) error {
	ctx.Tracef("mkdir(%q)", dir)
	if err := unix.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return nil
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
