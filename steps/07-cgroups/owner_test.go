package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

func TestParseStartTime(t *testing.T) {
	// the command name may hold spaces and parentheses
	stat := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615"
	got, err := parseStartTime(stat)
	if err != nil || got != 987654 {
		t.Errorf("parseStartTime = %d, %v; want 987654", got, err)
	}
	if _, err := parseStartTime("4242 (x) S 1"); err == nil {
		t.Error("short stat: no error")
	}
}

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
	if got.ownerGone() {
		t.Error("ownerGone for this very process")
	}
	got.OwnerStart++
	if !got.ownerGone() {
		t.Error("owner with another start time (a reused pid) is not gone")
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
	mk := func(id string, owner int, start uint64) (string, string) {
		dir := filepath.Join(cg, "mini-"+id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		r := &record{Owner: owner, OwnerStart: start, Version: 2, Dirs: []string{dir}}
		path := recordPath(&steps.Spec{Root: root, ID: id})
		if err := r.save(ctx, path); err != nil {
			t.Fatal(err)
		}
		return dir, path
	}
	me, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	liveDir, livePath := mk("live", os.Getpid(), me)
	deadDir, deadPath := mk("dead", os.Getpid(), me+1)
	junk := filepath.Join(root, "cgroups", "junk.json")
	os.WriteFile(junk, nil, 0o600)

	reclaim(ctx)
	for _, p := range []string{liveDir, livePath, junk} {
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
