// Package ipam is step 6's address management: which address of the
// bridge's subnet each container has, recorded under --root so that many
// mini processes can allocate at once and a dead one's addresses come back.
// Machinery, not the lesson (that is steps/06-net/net.go); docs/06-net.md,
// "Leases", explains the file.
package ipam

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"mini/steps"
)

// Lease says that an address is in use: by which container, held by which
// mini process (steps.Owner: a pid and its start time, so that a pid
// reused by an unrelated process once the owner is gone is not taken for
// it).
type Lease struct {
	IP    netip.Addr
	ID    string      // container id
	Owner steps.Owner // the mini process that runs the container
}

// leaseHeader opens every lease file, so a learner who cats it can read it.
const leaseHeader = "# address container pid start-time (see docs/06-net.md)\n"

// FormatLeases writes the lease file: one lease a line, four fields.
func FormatLeases(leases []Lease) string {
	var b strings.Builder
	b.WriteString(leaseHeader)
	for _, l := range leases {
		fmt.Fprintf(&b, "%s %s %d %d\n", l.IP, l.ID, l.Owner.PID, l.Owner.Start)
	}
	return b.String()
}

// ParseLeases reads what FormatLeases wrote. Blank lines and # comments are
// skipped; any other line that is not a lease is an error, since guessing
// could hand out an address that is in use.
func ParseLeases(s string) ([]Lease, error) {
	var out []Lease
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want 4 fields (address container pid start-time), got %q", i+1, line)
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("line %d: bad address %q", i+1, f[0])
		}
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("line %d: bad pid %q", i+1, f[2])
		}
		start, err := strconv.ParseUint(f[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad start time %q", i+1, f[3])
		}
		out = append(out, Lease{IP: ip, ID: f[1], Owner: steps.Owner{PID: pid, Start: start}})
	}
	return out, nil
}

// Alive reports whether the process that holds a lease still runs:
// steps.Owner.Alive, or a test's stand-in.
type Alive func(steps.Owner) bool

// Allocate gives the container id the lowest free address of subnet, leased
// to owner. Leases whose owner is gone are dropped first and returned as
// stale, so their addresses can be handed out again and the caller can
// remove what they left (their veth). leases is what the file held; kept is
// what it must hold now, the new lease included.
func Allocate(leases []Lease, subnet netip.Prefix, owner Lease, alive Alive) (kept, stale []Lease, err error) {
	kept, stale = Live(leases, alive)
	used := make(map[netip.Addr]bool, len(kept))
	for _, l := range kept {
		used[l.IP] = true
	}
	first, last := Hosts(subnet)
	for ip := first; ip.Compare(last) <= 0; ip = ip.Next() {
		if !used[ip] {
			owner.IP = ip
			return append(kept, owner), stale, nil
		}
	}
	n := 1<<(32-subnet.Bits()) - 3
	return nil, nil, fmt.Errorf("no free address in %s: all %d are leased to running containers: stop one, or use a larger --subnet", subnet, n)
}

// Release drops the lease of container id, and any lease whose owner is gone.
func Release(leases []Lease, id string, alive Alive) (kept, stale []Lease) {
	var others []Lease
	for _, l := range leases {
		if l.ID != id {
			others = append(others, l)
		}
	}
	return Live(others, alive)
}

// Live splits leases into those whose owner runs and those whose owner is gone.
func Live(leases []Lease, alive Alive) (live, stale []Lease) {
	return steps.SplitLive(leases, func(l Lease) steps.Owner { return l.Owner }, alive)
}
