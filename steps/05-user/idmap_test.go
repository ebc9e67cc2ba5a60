package user

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

func TestParseIDMaps(t *testing.T) {
	got, err := ParseIDMaps("--uidmap", []string{"0:100000:65536", "65536:300000:1", "0:0:4294967295"})
	if err != nil {
		t.Fatal(err)
	}
	want := []steps.IDMap{
		{ContainerID: 0, HostID: 100000, Size: 65536},
		{ContainerID: 65536, HostID: 300000, Size: 1},
		{ContainerID: 0, HostID: 0, Size: 4294967295},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseIDMaps (-want +got):\n%s", diff)
	}
	if got, err := ParseIDMaps("--uidmap", nil); err != nil || got != nil {
		t.Errorf("no flag: got %v, %v; want nil, nil", got, err)
	}
}

func TestParseIDMapsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `--uidmap "": want CONTAINER:HOST:SIZE, such as 0:100000:65536`},
		{"0:100000", `--uidmap "0:100000": want CONTAINER:HOST:SIZE`},
		{"0:100000:65536:1", `want CONTAINER:HOST:SIZE`},
		{"0:x:1", `three numbers from 0 to 4294967294`},
		{"-1:100000:1", `three numbers`},
		{"0: 100000:1", `three numbers`},
		{"0:4294967296:1", `three numbers`},
		{"0:100000:0", `--uidmap "0:100000:0": the size is 0: map at least one id`},
		{"0:4294967290:10", `the range ends past 4294967294, the highest id`},
		{"4294967295:0:1", `the range ends past`},
	} {
		_, err := ParseIDMaps("--uidmap", []string{"0:1:1", tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

func TestCheckIDMaps(t *testing.T) {
	m := func(c, h, n int) steps.IDMap { return steps.IDMap{ContainerID: c, HostID: h, Size: n} }
	for _, tc := range []struct {
		maps []steps.IDMap
		want string // "" for no error
	}{
		{[]steps.IDMap{m(0, 100000, 65536)}, ""},
		{[]steps.IDMap{m(0, 100000, 1000), m(1000, 300000, 10)}, ""},
		{[]steps.IDMap{m(5, 100000, 10), m(0, 200000, 5)}, ""},
		{[]steps.IDMap{m(0, 100000, 65536), m(1000, 300000, 10)},
			"--uidmap 0:100000:65536 and 1000:300000:10 overlap: container ids 1000-1009 are mapped twice"},
		{[]steps.IDMap{m(0, 100000, 10), m(10, 100005, 10)},
			"--uidmap 0:100000:10 and 10:100005:10 overlap: host ids 100005-100009 are used twice"},
		{[]steps.IDMap{m(0, 1, 1), m(0, 2, 1)}, "container ids 0-0 are mapped twice"},
		{[]steps.IDMap{m(1, 100000, 10)}, "--uidmap: no range maps container id 0, the container's root"},
		{nil, "no range maps container id 0"},
		{[]steps.IDMap{m(0, 1, 1), m(4294967290, 2, 10)}, "the range ends past 4294967294"},
	} {
		err := CheckIDMaps("--uidmap", tc.maps)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: got error %v, want %q", tc.maps, err, tc.want)
		}
	}
	many := make([]steps.IDMap, 341)
	for i := range many {
		many[i] = m(i, 100000+i, 1)
	}
	if err := CheckIDMaps("--uidmap", many[:340]); err != nil {
		t.Errorf("340 lines: %v", err)
	}
	if err := CheckIDMaps("--uidmap", many); err == nil || !strings.Contains(err.Error(), "at most 340") {
		t.Errorf("341 lines: got %v", err)
	}
}

func TestCheckAllowed(t *testing.T) {
	ranges := []Range{{100000, 65536}, {300000, 10}}
	m := func(c, h, n int) steps.IDMap { return steps.IDMap{ContainerID: c, HostID: h, Size: n} }
	for _, ok := range [][]steps.IDMap{
		{m(0, 100000, 65536)},
		{m(0, 100010, 5), m(5, 300000, 10)},
	} {
		if err := checkAllowed(uids, ok, ranges); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	err := checkAllowed(uids, []steps.IDMap{m(0, 165530, 10)}, ranges)
	want := "--uidmap 0:165530:10: host uids 165530-165539 are not in root's ranges in /etc/subuid (100000-165535, 300000-300009): use ids from there, or add a range to the file"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// Without ranges for root in the file, root may map any host ids.
	if err := checkAllowed(gids, []steps.IDMap{m(0, 0, 10)}, nil); err != nil {
		t.Errorf("no ranges: %v", err)
	}
}

func TestCheckRootless(t *testing.T) {
	m := func(c, h, n int) steps.IDMap { return steps.IDMap{ContainerID: c, HostID: h, Size: n} }
	if err := checkRootless(uids, []steps.IDMap{m(0, 1000, 1)}, 1000); err != nil {
		t.Errorf("own uid: %v", err)
	}
	for _, bad := range [][]steps.IDMap{
		{m(0, 100000, 65536)},
		{m(0, 1000, 2)},
		{m(0, 1001, 1)},
		{m(0, 1000, 1), m(1, 100000, 10)},
	} {
		err := checkRootless(gids, bad, 1000)
		if err == nil || !strings.HasPrefix(err.Error(), "--gidmap ") || !strings.Contains(err.Error(), "only your own gid 1000, as one id: use 0:1000:1") {
			t.Errorf("%v: got %v", bad, err)
		}
	}
}
