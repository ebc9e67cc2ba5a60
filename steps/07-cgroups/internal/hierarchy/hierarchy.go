// Package hierarchy finds which cgroup version the host runs, where its
// hierarchies are mounted, and where a container's cgroup goes in them:
// under the cgroup mini itself is in, as runc does, so that limits put on
// mini (a systemd unit, a CI job) bound its containers too. Machinery, not
// the lesson (steps/07-cgroups/cgroups.go). See cgroups(7).
package hierarchy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Root is where systemd and every distribution mount cgroups.
const Root = "/sys/fs/cgroup"

// V1Controllers are the hierarchies a container joins on cgroup v1: the
// three that limit it, and cpuacct, which counts the CPU time it used
// (cpuacct.usage). Where cpu and cpuacct are mounted together they share
// one directory.
var V1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// V1Extra are the hierarchies a container made from an OCI config may join
// too: cpuset for linux.resources.cpu.cpus and mems, devices for the
// device rules, freezer for pause and resume.
var V1Extra = []string{"cpuset", "devices", "freezer"}

// Place is where a container's cgroup goes.
type Place struct {
	Version int // 1 or 2
	// Dirs: on v1, controller -> the container's directory in that
	// controller's hierarchy; on v2, "" -> its one directory.
	Dirs map[string]string
	// Parents (v2): the cgroups from the hierarchy's root down to the
	// container's parent. A controller is available in a cgroup only if
	// each of them passes it down (cgroup.subtree_control).
	Parents []string
	// Mounts: where each hierarchy of Dirs is mounted, by the same keys.
	Mounts map[string]Mount
}

// Locate finds where the cgroup called name goes; join lists the v1
// hierarchies it goes in (V1Controllers, and some of V1Extra), need the
// controllers the container's limits use ("memory", "cpu", "pids"): on v1
// a hierarchy that is not mounted is an error only for one of them.
func Locate(ctx *steps.Context, name string, join, need []string) (Place, error) {
	mounts, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return Place{}, err
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Place{}, err
	}
	own := ParseProcCgroup(string(data))
	// cgroup v2 only when /sys/fs/cgroup itself is cgroup2. A "hybrid"
	// host (systemd's default for years) mounts v1 hierarchies there and a
	// mostly empty cgroup2 at /sys/fs/cgroup/unified: that host is v1.
	var st unix.Statfs_t
	if err := unix.Statfs(Root, &st); err != nil {
		return Place{}, fmt.Errorf("statfs %s: %w (are cgroups mounted?)", Root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		ctx.Tracef("statfs(%q): cgroup2, one unified hierarchy", Root)
		for _, m := range mounts {
			if m.FSType == "cgroup2" && m.Point == Root {
				return V2(m, own, name)
			}
		}
		return Place{}, fmt.Errorf("no cgroup2 mount at %s in /proc/self/mountinfo", Root)
	}
	ctx.Tracef("statfs(%q): not cgroup2, a hierarchy per controller: cgroup v1", Root)
	return V1(mounts, own, name, join, need)
}

// V1 places the container's cgroup in each v1 hierarchy of join, under the
// cgroup mini is in there.
func V1(mounts []Mount, own map[string]string, name string, join, need []string) (Place, error) {
	p := Place{Version: 1, Dirs: map[string]string{}, Mounts: map[string]Mount{}}
	for _, c := range join {
		m, ok := v1Mount(mounts, c)
		path, inIt := own[c]
		if !ok || !inIt {
			if slices.Contains(need, c) {
				return Place{}, fmt.Errorf("the cgroup v1 %s controller is not mounted: mount it at %s/%s (mount -t cgroup -o %s cgroup %s/%s)", c, Root, c, c, Root, c)
			}
			continue
		}
		parent, err := HostDir(m, path)
		if err != nil {
			return Place{}, err
		}
		p.Dirs[c] = filepath.Join(parent, name)
		p.Mounts[c] = m
	}
	if len(p.Dirs) == 0 {
		return Place{}, fmt.Errorf("no cgroup v1 hierarchy is mounted under %s", Root)
	}
	return p, nil
}

// v1Mount finds the hierarchy controller c is attached to: a cgroup mount
// whose options name it ("rw,memory", "rw,cpu,cpuacct").
func v1Mount(mounts []Mount, c string) (Mount, bool) {
	for _, m := range mounts {
		if m.FSType == "cgroup" && slices.Contains(m.Opts, c) {
			return m, true
		}
	}
	return Mount{}, false
}

// V2 places the container's cgroup. cgroup v2 lets processes live only in
// leaves once controllers are on ("no internal processes", cgroups(7)): a
// cgroup that holds processes cannot pass controllers to its children.
// mini's own cgroup holds mini (and usually the shell that started it: a
// session-N.scope), so the container cannot go below it. It goes beside
// it, under the same parent, which holds no processes; or under the root
// when mini is in the root, which the rule exempts.
func V2(m Mount, own map[string]string, name string) (Place, error) {
	path, ok := own[""]
	if !ok {
		return Place{}, fmt.Errorf("no cgroup v2 line (0::) in /proc/self/cgroup")
	}
	mine, err := HostDir(m, path)
	if err != nil {
		return Place{}, err
	}
	parent := mine
	if mine != m.Point {
		parent = filepath.Dir(mine)
	}
	p := Place{Version: 2, Dirs: map[string]string{"": filepath.Join(parent, name)}, Mounts: map[string]Mount{"": m}}
	p.Parents, err = Chain(m.Point, parent)
	return p, err
}

// Chain lists the directories from top down to dir, both included.
func Chain(top, dir string) ([]string, error) {
	rel, err := filepath.Rel(top, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%s is not below %s", dir, top)
	}
	chain := []string{top}
	if rel != "." {
		for i, part := range strings.Split(rel, "/") {
			chain = append(chain, filepath.Join(chain[i], part))
		}
	}
	return chain, nil
}

// Mount is a cgroup filesystem from /proc/self/mountinfo.
type Mount struct {
	Root   string   // which cgroup of the hierarchy is mounted (field 4)
	Point  string   // where (field 5)
	FSType string   // cgroup or cgroup2
	Opts   []string // super options: the v1 controllers, "rw", ...
}

// readMountinfo lists the cgroup mounts (proc_pid_mountinfo(5)).
func readMountinfo(path string) ([]Mount, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(string(data)), nil
}

// ParseMountinfo reads lines like
//
//	35 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory
//
// The optional fields end at "-"; after it come fstype, source, options.
func ParseMountinfo(data string) []Mount {
	var out []Mount
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
			out = append(out, Mount{Root: unescape(f[3]), Point: unescape(f[4]), FSType: fstype, Opts: strings.Split(f[dash+3], ",")})
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

// ParseProcCgroup reads which cgroup a process is in, in each hierarchy
// (cgroups(7), /proc/[pid]/cgroup): lines "hierarchy-ID:controller-list:path",
// such as "4:memory:/user.slice" or "1:cpu,cpuacct:/" (v1) and
// "0::/user.slice" (v2), into a map from controller to path; the v2 line
// is under the key "".
func ParseProcCgroup(data string) map[string]string {
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

// HostDir is where cgroup path p of a hierarchy mounted as m is on the
// host: the mount shows the hierarchy from m.Root down, so /a/b of a mount
// of /a at /sys/fs/cgroup/x is /sys/fs/cgroup/x/b.
func HostDir(m Mount, p string) (string, error) {
	rel, err := filepath.Rel(m.Root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("mini's cgroup %s is outside the cgroup mount at %s (root %s)", p, m.Point, m.Root)
	}
	return filepath.Join(m.Point, rel), nil
}
