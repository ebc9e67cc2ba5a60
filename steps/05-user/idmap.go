package user

import (
	"fmt"
	"strconv"
	"strings"

	"mini/steps"
)

// maxID is the highest id a map may reach: (uid_t)-1 means "no id" to the
// kernel, so 4294967295 itself is never mapped.
const maxID = 1<<32 - 2

// maxLines is how many lines uid_map and gid_map take since Linux 4.15
// (user_namespaces(7)); before, 5.
const maxLines = 340

// kind is what differs between the uid side and the gid side.
type kind struct {
	flag string // the command-line flag: --uidmap
	id   string // what the ids are: uid
	file string // the subordinate ids file: /etc/subuid
}

var (
	uids = kind{"--uidmap", "uid", "/etc/subuid"}
	gids = kind{"--gidmap", "gid", "/etc/subgid"}
)

// ParseIDMaps reads the values of a repeated --uidmap or --gidmap flag, each
// podman's CONTAINER:HOST:SIZE: SIZE ids from CONTAINER in the container are
// HOST.. on the host. It checks each line alone; CheckIDMaps checks them
// together.
func ParseIDMaps(flag string, values []string) ([]steps.IDMap, error) {
	var maps []steps.IDMap
	for _, v := range values {
		m, err := parseIDMap(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %s", flag, v, err)
		}
		maps = append(maps, m)
	}
	return maps, nil
}

func parseIDMap(s string) (steps.IDMap, error) {
	var m steps.IDMap
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return m, fmt.Errorf("want CONTAINER:HOST:SIZE, such as 0:100000:65536")
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return m, fmt.Errorf("want CONTAINER:HOST:SIZE, three numbers from 0 to %d, such as 0:100000:65536", maxID)
		}
		n[i] = int(v)
	}
	m = steps.IDMap{ContainerID: n[0], HostID: n[1], Size: n[2]}
	if m.Size == 0 {
		return m, fmt.Errorf("the size is 0: map at least one id")
	}
	if last(m.ContainerID, m.Size) > maxID || last(m.HostID, m.Size) > maxID {
		return m, fmt.Errorf("the range ends past %d, the highest id", maxID)
	}
	return m, nil
}

// CheckIDMaps checks a whole map as the kernel will when it is written to
// /proc/PID/uid_map (user_namespaces(7)): no two lines may overlap, on the
// container side or on the host side, and at most 340 lines. mini also wants
// the container's root mapped: the child runs as root in the container.
func CheckIDMaps(flag string, maps []steps.IDMap) error {
	if len(maps) > maxLines {
		return fmt.Errorf("%s: %d ranges, but the kernel takes at most %d", flag, len(maps), maxLines)
	}
	for i, a := range maps {
		if last(a.ContainerID, a.Size) > maxID || last(a.HostID, a.Size) > maxID {
			return fmt.Errorf("%s %s: the range ends past %d, the highest id", flag, format(a), maxID)
		}
		for _, b := range maps[:i] {
			if lo, hi, ok := overlap(a.ContainerID, b.ContainerID, a.Size, b.Size); ok {
				return fmt.Errorf("%s %s and %s overlap: container ids %d-%d are mapped twice; give each id one range", flag, format(b), format(a), lo, hi)
			}
			if lo, hi, ok := overlap(a.HostID, b.HostID, a.Size, b.Size); ok {
				return fmt.Errorf("%s %s and %s overlap: host ids %d-%d are used twice; give each id one range", flag, format(b), format(a), lo, hi)
			}
		}
	}
	for _, m := range maps {
		if m.ContainerID == 0 {
			return nil
		}
	}
	return fmt.Errorf("%s: no range maps container id 0, the container's root: add one such as 0:100000:65536", flag)
}

// checkAllowed checks that root maps only host ids the subordinate id file
// gives it, when the file gives it any (subuid(5)): the ranges there are
// handed out so that no two users, and no two runtimes, share host ids.
func checkAllowed(k kind, maps []steps.IDMap, ranges []Range) error {
	if len(ranges) == 0 {
		return nil
	}
	for _, m := range maps {
		if !inside(m, ranges) {
			return fmt.Errorf("%s %s: host %ss %d-%d are not in root's ranges in %s (%s): use ids from there, or add a range to the file",
				k.flag, format(m), k.id, m.HostID, last(m.HostID, m.Size), k.file, formatRanges(ranges))
		}
	}
	return nil
}

// checkRootless checks a map for a run without root: the kernel lets an
// unprivileged process write one line that maps its own id, nothing else
// (user_namespaces(7), "Defining user and group ID mappings").
func checkRootless(k kind, maps []steps.IDMap, own int) error {
	if len(maps) == 1 && maps[0].Size == 1 && maps[0].HostID == own {
		return nil
	}
	return fmt.Errorf("%s %s: without root, mini can map only your own %s %d, as one id: use 0:%d:1 (more ids need root, or the setuid new%smap(1), which mini does not use)",
		k.flag, formatAll(maps), k.id, own, own, k.id)
}

func inside(m steps.IDMap, ranges []Range) bool {
	for _, r := range ranges {
		if m.HostID >= r.Start && last(m.HostID, m.Size) <= last(r.Start, r.Count) {
			return true
		}
	}
	return false
}

// overlap returns the ids [a, a+an) and [b, b+bn) have in common.
func overlap(a, b, an, bn int) (lo, hi int, ok bool) {
	lo, hi = max(a, b), min(last(a, an), last(b, bn))
	return lo, hi, lo <= hi
}

// last is the last id of a range of size n that starts at start.
func last(start, n int) int { return start + n - 1 }

func format(m steps.IDMap) string {
	return fmt.Sprintf("%d:%d:%d", m.ContainerID, m.HostID, m.Size)
}

func formatAll(maps []steps.IDMap) string {
	var s []string
	for _, m := range maps {
		s = append(s, format(m))
	}
	return strings.Join(s, ",")
}

func formatRanges(ranges []Range) string {
	var s []string
	for _, r := range ranges {
		s = append(s, fmt.Sprintf("%d-%d", r.Start, last(r.Start, r.Count)))
	}
	return strings.Join(s, ", ")
}
