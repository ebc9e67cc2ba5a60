package ipam

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

func lease(ip, id string, pid int, start uint64) Lease {
	return Lease{IP: netip.MustParseAddr(ip), ID: id, Owner: steps.Owner{PID: pid, Start: start}}
}

// compareAddr lets cmp compare netip.Addr, whose fields are unexported.
var compareAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestLeaseFileFormat(t *testing.T) {
	leases := []Lease{
		lease("10.89.0.2", "0123456789ab", 4242, 1234567),
		lease("10.89.0.3", "ba9876543210", 17, 99),
	}
	text := FormatLeases(leases)
	want := leaseHeader +
		"10.89.0.2 0123456789ab 4242 1234567\n" +
		"10.89.0.3 ba9876543210 17 99\n"
	if diff := cmp.Diff(want, text); diff != "" {
		t.Errorf("FormatLeases (-want +got):\n%s", diff)
	}
	got, err := ParseLeases(text)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(leases, got, compareAddr); diff != "" {
		t.Errorf("ParseLeases(FormatLeases(x)) != x (-want +got):\n%s", diff)
	}
	if got, err := ParseLeases("\n# only comments\n\n"); err != nil || len(got) != 0 {
		t.Errorf("ParseLeases(comments) = %v, %v; want nothing", got, err)
	}
}

func TestParseLeasesErrors(t *testing.T) {
	for _, c := range []struct{ in, why string }{
		{"10.89.0.2 id 1\n", "line 1: want 4 fields"},
		{"# x\n10.89.0.2 id 1 2 3\n", "line 2: want 4 fields"},
		{"10.89.0.300 id 1 2\n", "bad address"},
		{"fd00::1 id 1 2\n", "bad address"},
		{"10.89.0.2 id 0 2\n", "bad pid"},
		{"10.89.0.2 id x 2\n", "bad pid"},
		{"10.89.0.2 id 1 -2\n", "bad start time"},
	} {
		_, err := ParseLeases(c.in)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseLeases(%q) = %v; want an error with %q", c.in, err, c.why)
		}
	}
}

// aliveOnly says that only the listed pids run, with start time 1.
func aliveOnly(pids ...int) Alive {
	return func(o steps.Owner) bool {
		for _, p := range pids {
			if p == o.PID && o.Start == 1 {
				return true
			}
		}
		return false
	}
}

func TestAllocate(t *testing.T) {
	subnet := netip.MustParsePrefix("10.89.0.0/24")
	me := Lease{ID: "me", Owner: steps.Owner{PID: 100, Start: 1}}

	// the first address after the gateway
	kept, stale, err := Allocate(nil, subnet, me, aliveOnly(100))
	if err != nil {
		t.Fatal(err)
	}
	want := []Lease{lease("10.89.0.2", "me", 100, 1)}
	if diff := cmp.Diff(want, kept, compareAddr); diff != "" || len(stale) != 0 {
		t.Errorf("empty file (-want +got):\n%s stale %v", diff, stale)
	}

	// the lowest free one, skipping leases whose owner runs
	held := []Lease{lease("10.89.0.2", "a", 1, 1), lease("10.89.0.4", "b", 2, 1)}
	kept, _, err = Allocate(held, subnet, me, aliveOnly(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := kept[len(kept)-1].IP.String(); got != "10.89.0.3" || len(kept) != 3 {
		t.Errorf("got %s in %v, want 10.89.0.3 and three leases", got, kept)
	}

	// a lease whose owner is gone is reclaimed; so is one whose pid was
	// reused by a process that started at another time (start 2, not 1)
	held = []Lease{lease("10.89.0.2", "dead", 1, 1), lease("10.89.0.3", "reused", 2, 2), lease("10.89.0.4", "live", 3, 1)}
	kept, stale, err = Allocate(held, subnet, me, aliveOnly(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	want = []Lease{lease("10.89.0.4", "live", 3, 1), lease("10.89.0.2", "me", 100, 1)}
	if diff := cmp.Diff(want, kept, compareAddr); diff != "" {
		t.Errorf("reclaim (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(held[:2], stale, compareAddr); diff != "" {
		t.Errorf("stale (-want +got):\n%s", diff)
	}
}

func TestAllocateExhausted(t *testing.T) {
	subnet := netip.MustParsePrefix("10.89.0.0/29") // .2 to .6
	var held []Lease
	for ip := netip.MustParseAddr("10.89.0.2"); ip.String() != "10.89.0.7"; ip = ip.Next() {
		held = append(held, Lease{IP: ip, ID: "x", Owner: steps.Owner{PID: 1, Start: 1}})
	}
	_, _, err := Allocate(held, subnet, Lease{ID: "me", Owner: steps.Owner{PID: 100, Start: 1}}, aliveOnly(1))
	want := "no free address in 10.89.0.0/29: all 5 are leased to running containers: stop one, or use a larger --subnet"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	// the gateway and the broadcast address are never handed out
	kept, _, err := Allocate(held[:4], subnet, Lease{ID: "me"}, aliveOnly(1))
	if err != nil || kept[4].IP.String() != "10.89.0.6" {
		t.Errorf("last free address: %v, %v; want 10.89.0.6", kept, err)
	}
}

func TestRelease(t *testing.T) {
	held := []Lease{lease("10.89.0.2", "me", 1, 1), lease("10.89.0.3", "other", 2, 1), lease("10.89.0.4", "dead", 3, 1)}
	kept, stale := Release(held, "me", aliveOnly(1, 2))
	if diff := cmp.Diff(held[1:2], kept, compareAddr); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(held[2:], stale, compareAddr); diff != "" {
		t.Errorf("stale (-want +got):\n%s", diff)
	}
}

func TestWithLeases(t *testing.T) {
	root := t.TempDir()
	add := func(l Lease) func([]Lease) ([]Lease, error) {
		return func(ls []Lease) ([]Lease, error) { return append(ls, l), nil }
	}
	if err := With(root, "br0", add(lease("10.89.0.2", "a", 1, 1))); err != nil {
		t.Fatal(err)
	}
	if err := With(root, "br0", add(lease("10.89.0.3", "b", 2, 1))); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "net", "br0.leases"))
	if err != nil {
		t.Fatal(err)
	}
	want := leaseHeader + "10.89.0.2 a 1 1\n10.89.0.3 b 2 1\n"
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("lease file (-want +got):\n%s", diff)
	}
	// no lease left: no file left
	if err := With(root, "br0", func([]Lease) ([]Lease, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "net")); len(left) != 0 {
		t.Errorf("left in %s/net: %v", root, left)
	}
}

// TestAlive: the lease's owner is judged as steps.Owner judges it.
func TestAlive(t *testing.T) {
	me, err := steps.Self()
	if err != nil {
		t.Fatal(err)
	}
	mine := []Lease{lease("10.89.0.2", "a", me.PID, me.Start), lease("10.89.0.3", "b", me.PID, me.Start+1)}
	live, stale := Live(mine, steps.Owner.Alive)
	if len(live) != 1 || live[0].ID != "a" || len(stale) != 1 || stale[0].ID != "b" {
		t.Errorf("Live(self, self with another start time) = %v, %v", live, stale)
	}
}
