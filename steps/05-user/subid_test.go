package user

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "subuid")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadSubIDs(t *testing.T) {
	path := writeFile(t, `# comment
alice:100000:65536

root:165536:65536
0:300000:10
bob:231072:65536
  root:400000:1
`)
	got, err := ReadSubIDs(path, "root", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{165536, 65536}, {300000, 10}, {400000, 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
	got, err = ReadSubIDs(path, "carol", 1002)
	if err != nil || got != nil {
		t.Errorf("carol: got %v, %v; want no ranges", got, err)
	}
}

func TestReadSubIDsMissingFile(t *testing.T) {
	got, err := ReadSubIDs(filepath.Join(t.TempDir(), "none"), "root", 0)
	if err != nil || got != nil {
		t.Errorf("got %v, %v; want nil, nil", got, err)
	}
}

func TestReadSubIDsErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"root:100000", `line 2: "root:100000": want NAME:START:COUNT`},
		{":100000:65536", `want NAME:START:COUNT`},
		{"root:x:65536", `START and COUNT must be numbers`},
		{"root:100000:0", `COUNT at least 1`},
		{"root:4294967295:2", `START+COUNT at most 4294967295`},
	} {
		path := writeFile(t, "alice:1:1\n"+tc.line+"\n")
		_, err := ReadSubIDs(path, "root", 0)
		if err == nil || !strings.HasPrefix(err.Error(), path+" line 2: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.line, err, tc.want)
		}
	}
}

func TestMapRanges(t *testing.T) {
	got := mapRanges([]Range{{165536, 65536}, {300000, 10}})
	want := []steps.IDMap{
		{ContainerID: 0, HostID: 165536, Size: 65536},
		{ContainerID: 65536, HostID: 300000, Size: 10},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mapRanges (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]steps.IDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}, mapRanges([]Range{defaultRange})); diff != "" {
		t.Errorf("default (-want +got):\n%s", diff)
	}
}

// TestIDMap checks how a side's map is chosen: the flag, else root's ranges
// in the file, else 100000:65536; without root, the caller's own id.
func TestIDMap(t *testing.T) {
	withRoot := kind{"--uidmap", "uid", writeFile(t, "root:200000:1000\nroot:300000:10\n")}
	noFile := kind{"--uidmap", "uid", filepath.Join(t.TempDir(), "none")}
	root, rootless := &steps.Spec{}, &steps.Spec{Rootless: true}
	m := func(c, h, n int) steps.IDMap { return steps.IDMap{ContainerID: c, HostID: h, Size: n} }
	for _, tc := range []struct {
		name  string
		spec  *steps.Spec
		k     kind
		flags []string
		want  []steps.IDMap
		err   string
	}{
		{"root, subuid", root, withRoot, nil, []steps.IDMap{m(0, 200000, 1000), m(1000, 300000, 10)}, ""},
		{"root, no subuid", root, noFile, nil, []steps.IDMap{m(0, 100000, 65536)}, ""},
		{"root, flag", root, noFile, []string{"0:5000:10"}, []steps.IDMap{m(0, 5000, 10)}, ""},
		{"root, flag in range", root, withRoot, []string{"0:200500:10"}, []steps.IDMap{m(0, 200500, 10)}, ""},
		{"root, flag outside", root, withRoot, []string{"0:100000:10"}, nil, "host uids 100000-100009 are not in root's ranges"},
		{"rootless", rootless, withRoot, nil, []steps.IDMap{m(0, 1000, 1)}, ""},
		{"rootless, own", rootless, noFile, []string{"0:1000:1"}, []steps.IDMap{m(0, 1000, 1)}, ""},
		{"rootless, other", rootless, noFile, []string{"0:200000:1"}, nil, "only your own uid 1000"},
		{"rootless, no root", rootless, noFile, []string{"1:1000:1"}, nil, "no range maps container id 0"},
	} {
		got, err := idMap(tc.spec, tc.k, tc.flags, 1000)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
