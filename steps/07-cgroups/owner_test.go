package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

func TestRecord(t *testing.T) {
	root := t.TempDir()
	spec := &steps.Spec{Root: root, ID: "0123456789ab"}
	ctx, _ := testContext(spec)
	d := &v1{dir: map[string]string{"memory": "/m/mini-x", "cpu": "/c/mini-x", "cpuacct": "/c/mini-x", "pids": "/p/mini-x"}}
	r, err := newRecord(d)
	if err != nil {
		t.Fatal(err)
	}
	path := recordPath(spec)
	if err := r.save(ctx, path); err != nil {
		t.Fatal(err)
	}
	got, err := loadRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("record after a round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(d, got.driver(), cmp.AllowUnexported(v1{})); diff != "" {
		t.Errorf("driver from the record (-want +got):\n%s", diff)
	}
	if !got.Owner.Alive() {
		t.Errorf("the record's owner %+v is not this very process", got.Owner)
	}

	v := &v2{dir: "/sys/fs/cgroup/a/mini-x"}
	r2, _ := newRecord(v)
	if diff := cmp.Diff(&v2{dir: v.dir}, r2.driver(), cmp.AllowUnexported(v2{})); diff != "" {
		t.Errorf("v2 driver from the record (-want +got):\n%s", diff)
	}
}

// reclaim removes the cgroups of a dead owner, and leaves a live one's and
// a record it cannot read alone.
func TestReclaim(t *testing.T) {
	root := t.TempDir()
	cg := t.TempDir()
	ctx, _ := testContext(&steps.Spec{Root: root})
	cgroupFS = func(dir string) bool { return strings.HasPrefix(dir, cg+"/") }
	defer func() { cgroupFS = onCgroupFS }()
	mk := func(id string, owner steps.Owner) (string, string) {
		dir := filepath.Join(cg, "mini-"+id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		r := &record{Owner: owner, Version: 2, Dirs: []string{dir}}
		path := recordPath(&steps.Spec{Root: root, ID: id})
		if err := r.save(ctx, path); err != nil {
			t.Fatal(err)
		}
		return dir, path
	}
	me, err := steps.Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := steps.Owner{PID: me.PID, Start: me.Start + 1} // the pid, reused
	liveDir, livePath := mk("00000000001e", me)
	deadDir, deadPath := mk("0000000000dd", dead)
	junk := filepath.Join(root, "cgroups", "junk.json")
	os.WriteFile(junk, nil, 0o600)
	// A planted record: a dead owner, and a cgroup mini did not name.
	other := filepath.Join(cg, "someone-else")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	planted := recordPath(&steps.Spec{Root: root, ID: "0000000000ee"})
	if err := (&record{Owner: dead, Version: 2, Dirs: []string{other}}).save(ctx, planted); err != nil {
		t.Fatal(err)
	}

	reclaim(ctx)
	for _, p := range []string{liveDir, livePath, junk, other, planted} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it left alone", p, err)
		}
	}
	for _, p := range []string{deadDir, deadPath} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it reclaimed", p, err)
		}
	}
}
