package security

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCapSet: docker's rules (moby's TweakCapabilities, the docker command
// line's EffectiveCapAddCapDrop).
func TestCapSet(t *testing.T) {
	all := len(capNames)
	for _, tc := range []struct {
		add, drop  []string
		privileged bool
		want       []string
		count      int // when want is nil: how many
	}{
		{want: DefaultCaps},
		{add: []string{"net_admin"}, want: append(append([]string{}, DefaultCaps...), "CAP_NET_ADMIN")},
		{add: []string{"CAP_SYS_TIME"}, count: 15},
		{add: []string{"chown"}, want: DefaultCaps}, // already there: not twice
		{drop: []string{"NET_RAW", "cap_mknod"}, count: 12},
		{drop: []string{"ALL"}, count: 0},
		{drop: []string{"all"}, add: []string{"kill"}, want: []string{"CAP_KILL"}},
		{add: []string{"ALL"}, count: all},
		{add: []string{"ALL"}, drop: []string{"SYS_ADMIN"}, count: all - 1},
		{add: []string{"ALL"}, drop: []string{"ALL"}, count: all},
		{add: []string{"NET_RAW"}, drop: []string{"NET_RAW"}, want: DefaultCaps}, // added wins
		{privileged: true, drop: []string{"ALL"}, count: all},
	} {
		got, err := CapSet(DefaultCaps, tc.add, tc.drop, tc.privileged)
		if err != nil {
			t.Errorf("add %v drop %v: %v", tc.add, tc.drop, err)
			continue
		}
		if tc.want == nil {
			if len(got) != tc.count {
				t.Errorf("add %v drop %v privileged %v: %d capabilities, want %d", tc.add, tc.drop, tc.privileged, len(got), tc.count)
			}
			continue
		}
		if diff := cmp.Diff(sorted(tc.want), sorted(got)); diff != "" {
			t.Errorf("add %v drop %v (-want +got):\n%s", tc.add, tc.drop, diff)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func TestCapSetUnknown(t *testing.T) {
	for _, tc := range [][2][]string{{{"NET_ADMN"}, nil}, {nil, {"CAP_FOO"}}, {{""}, nil}} {
		_, err := CapSet(DefaultCaps, tc[0], tc[1], false)
		if err == nil || !strings.Contains(err.Error(), "unknown capability") {
			t.Errorf("add %q drop %q: %v, want unknown capability", tc[0], tc[1], err)
		}
	}
}

// The default 14 are docker's CapEff, 0xa80425fb, as /proc/self/status
// shows it in a docker container.
func TestDefaultMask(t *testing.T) {
	if m := capMask(DefaultCaps); m != 0xa80425fb {
		t.Errorf("docker's default set is %#x, want 0xa80425fb", m)
	}
	for i, c := range capNames {
		if c.nr != i {
			t.Errorf("capNames[%d] is %s, number %d: keep the kernel's order", i, c.name, c.nr)
		}
	}
}
