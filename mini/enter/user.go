package enter

import (
	"os"
	"strconv"
	"strings"

	"mini/steps"
)

// cred is who the command runs as, in the container's terms.
type cred struct {
	uid, gid  int
	groups    []uint32 // supplementary groups, from its /etc/group
	setgroups bool     // false when the user namespace forbids setgroups(2)
	home      string
}

// lookupUser resolves -u as docker does, NAME|UID[:GROUP|GID], in the
// container's /etc/passwd and /etc/group (this thread's root is the
// container's by now), as the container's init resolves --user
// (steps.ResolveUser). Without -u it is root.
func lookupUser(spec string, pid int) (cred, error) {
	if spec == "" {
		spec = "0"
	}
	id, err := steps.ResolveUser("-u", spec)
	if err != nil {
		return cred{}, err
	}
	c := cred{uid: id.UID, gid: id.GID, home: id.Home, setgroups: setgroupsAllowed(pid)}
	for _, g := range id.Groups {
		c.groups = append(c.groups, uint32(g))
	}
	return c, nil
}

// setgroupsAllowed reads /proc/PID/setgroups: "deny" in a user namespace
// whose maps an unprivileged user wrote (a rootless container,
// user_namespaces(7)); there setgroups(2) is refused.
func setgroupsAllowed(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/setgroups")
	return err != nil || strings.TrimSpace(string(data)) != "deny"
}
