package oci

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// cgroupMounts spells out a config's mount of type cgroup: the container's
// view of the cgroup file systems, as runc gives it. On a cgroup v2 host it
// is one cgroup2 mount. On a v1 host it is a tmpfs with a mount of each
// hierarchy the host has in it, named as on the host (memory,
// cpu,cpuacct ...), then the tmpfs made read-only if the mount asks for
// ro. With a cgroup namespace (step 7) each shows the container's own
// cgroup as its root.
func cgroupMounts(e steps.MountEntry) ([]steps.MountEntry, error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []steps.MountEntry{{Source: "cgroup2", Destination: e.Destination, Type: "cgroup2", Options: e.Options}}, nil
	}
	var flags []string // the mount's options that are flags, for each mount
	ro := false
	for _, o := range e.Options {
		switch o {
		case "ro":
			ro = true
		case "rw":
		default:
			flags = append(flags, o)
		}
	}
	list := []steps.MountEntry{{Source: "tmpfs", Destination: e.Destination, Type: "tmpfs", Options: append(slices.Clone(flags), "mode=755")}}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{} // a point mounted over again is listed again
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 35 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory
		fields := strings.Fields(sc.Text())
		dash := slices.Index(fields, "-")
		if dash < 5 || dash+3 >= len(fields) || filepath.Dir(fields[4]) != "/sys/fs/cgroup" {
			continue
		}
		fstype, point := fields[dash+1], fields[4]
		if seen[point] {
			continue
		}
		seen[point] = true
		opts := slices.Clone(flags)
		if ro {
			opts = append(opts, "ro")
		}
		switch fstype {
		case "cgroup":
			for _, o := range strings.Split(fields[dash+3], ",") {
				if o != "rw" && o != "ro" {
					opts = append(opts, o) // the hierarchy's controllers, or its name=
				}
			}
		case "cgroup2":
		default:
			continue
		}
		list = append(list, steps.MountEntry{Source: fstype, Destination: filepath.Join(e.Destination, filepath.Base(point)), Type: fstype, Options: opts})
	}
	if ro {
		list = append(list, steps.MountEntry{Source: "tmpfs", Destination: e.Destination, Type: "tmpfs", Options: append(slices.Clone(flags), "remount", "ro")})
	}
	return list, sc.Err()
}
