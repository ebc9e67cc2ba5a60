// Package user is step 5: a user namespace in which the container's root is
// an unprivileged host uid. Root inside keeps every capability over what the
// namespace owns (its mounts, hostname, processes) and none over the host's
// files and devices. See docs/05-user.md, user_namespaces(7) and subuid(5).
package user

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is step 5.
type Step struct{}

func (Step) Number() int  { return 5 }
func (Step) Name() string { return "user" }

// defaultRange is the host range container ids map onto when /etc/subuid
// gives root none: podman's and docker's usual first range.
var defaultRange = Range{Start: 100000, Count: 65536}

// Validate decides the uid and gid maps on the host, before anything is
// made: --uidmap/--gidmap, else root's ranges in /etc/subuid and /etc/subgid,
// else 100000:65536; without root, the caller's own ids.
func (Step) Validate(ctx *steps.Context) error {
	s := ctx.Spec
	if s.OCI != nil {
		// An OCI config's maps (linux.uidMappings) are its caller's choice,
		// containerd's or podman's: only the kernel's rules are checked.
		if err := CheckIDMaps("linux.uidMappings", s.UIDMap); err != nil {
			return err
		}
		return CheckIDMaps("linux.gidMappings", s.GIDMap)
	}
	if s.Rootless {
		if err := checkUnprivileged(); err != nil {
			return err
		}
	}
	var err error
	if s.UIDMap, err = idMap(s, uids, s.UIDMapFlag, os.Geteuid()); err != nil {
		return err
	}
	// As podman: --uidmap alone maps the gids the same way.
	g, gidFlag := gids, s.GIDMapFlag
	if len(gidFlag) == 0 && len(s.UIDMapFlag) > 0 {
		g.flag, gidFlag = "--gidmap (taken from --uidmap)", s.UIDMapFlag
	}
	if s.GIDMap, err = idMap(s, g, gidFlag, os.Getegid()); err != nil {
		return err
	}
	ctx.Tracef("container root is host uid %d, gid %d", s.RootUID(), s.RootGID())
	return nil
}

// idMap returns one side's map, checked: own is the caller's id.
func idMap(s *steps.Spec, k kind, flag []string, own int) ([]steps.IDMap, error) {
	maps, err := ParseIDMaps(k.flag, flag)
	if err != nil {
		return nil, err
	}
	var ranges []Range
	if !s.Rootless {
		if ranges, err = ReadSubIDs(k.file, "root", 0); err != nil {
			return nil, err
		}
	}
	if len(maps) == 0 {
		switch {
		case s.Rootless:
			maps = []steps.IDMap{{ContainerID: 0, HostID: own, Size: 1}}
		case len(ranges) > 0:
			maps, k.flag = mapRanges(ranges), "root's ranges in "+k.file
		default:
			maps = mapRanges([]Range{defaultRange})
		}
	}
	if err := CheckIDMaps(k.flag, maps); err != nil {
		return nil, err
	}
	if s.Rootless {
		return maps, checkRootless(k, maps, own)
	}
	return maps, checkAllowed(k, maps, ranges)
}

// CloneFlags: the child is created in a new user namespace, owned by mini's
// user. Its other new namespaces (UTS, PID, mount, IPC) are created together
// with it and so are owned by it: root in the container may administer them.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	ctx.Tracef("CLONE_NEWUSER: a new user namespace; the child waits until its maps are written")
	return unix.CLONE_NEWUSER
}

// IDMaps hands the maps to the engine. Go's syscall.ForkExec writes them between
// clone and exec, from the parent, to /proc/CHILD/uid_map and gid_map
// (the child cannot write its own once it has exec'd: it has no capability
// in the parent namespace). setgroups(2) must be denied before an
// unprivileged process may write gid_map: otherwise dropping a group could
// give access a "deny this group" permission forbids (user_namespaces(7)).
// Root's gid_map is trusted, and the container may call setgroups.
func (Step) IDMaps(ctx *steps.Context) (uidMap, gidMap []syscall.SysProcIDMap, setgroups bool) {
	s := ctx.Spec
	setgroups = !s.Rootless
	ctx.Tracef("after clone, the parent writes /proc/CHILD/uid_map: %s", lines(s.UIDMap))
	if setgroups {
		ctx.Tracef("after clone, the parent writes /proc/CHILD/setgroups: allow")
	} else {
		ctx.Tracef("after clone, the parent writes /proc/CHILD/setgroups: deny (an unprivileged writer of gid_map must)")
	}
	ctx.Tracef("after clone, the parent writes /proc/CHILD/gid_map: %s", lines(s.GIDMap))
	return sysMaps(s.UIDMap), sysMaps(s.GIDMap), setgroups
}

// Attach reads the maps back from the child while it waits, for --trace:
// what the kernel accepted, as any tool (lsns, cat) would show it. Without
// --trace nobody reads them: forkExec has already failed if a write did.
func (Step) Attach(ctx *steps.Context, pid int) error {
	if !ctx.Spec.Trace {
		return nil
	}
	for _, f := range []string{"uid_map", "gid_map", "setgroups"} {
		path := fmt.Sprintf("/proc/%d/%s", pid, f)
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		ctx.Tracef("%s: %s", path, strings.Join(strings.Fields(string(b)), " "))
	}
	return nil
}

func sysMaps(maps []steps.IDMap) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	for _, m := range maps {
		out = append(out, syscall.SysProcIDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	return out
}

// lines spells a map as uid_map holds it, one "CONTAINER HOST SIZE" a line.
func lines(maps []steps.IDMap) string {
	var s []string
	for _, m := range maps {
		s = append(s, fmt.Sprintf("%q", fmt.Sprintf("%d %d %d", m.ContainerID, m.HostID, m.Size)))
	}
	return strings.Join(s, " ")
}
