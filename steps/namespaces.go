package steps

import (
	"strings"

	"golang.org/x/sys/unix"
)

// namespaceFlags are the CLONE_NEW* flags of the namespaces the steps make,
// in the order of the steps (namespaces(7)).
var namespaceFlags = []struct {
	flag uintptr
	name string
}{
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
}

// FlagNames spells namespace flags as clone(2), unshare(2) and setns(2)
// name them: "CLONE_NEWUTS|CLONE_NEWPID"; "0" for none.
func FlagNames(flags uintptr) string {
	var names []string
	for _, n := range namespaceFlags {
		if flags&n.flag != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// cloneNames is FlagNames for the engine's clone line; intoCgroup adds
// CLONE_INTO_CGROUP, a clone3(2) flag beyond clone(2)'s 32 bits.
func cloneNames(flags uintptr, intoCgroup bool) string {
	s := FlagNames(flags)
	if !intoCgroup {
		return s
	}
	if s == "0" {
		return "CLONE_INTO_CGROUP"
	}
	return s + "|CLONE_INTO_CGROUP"
}
