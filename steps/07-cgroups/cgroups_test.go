package cgroups

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
	"mini/steps/07-cgroups/internal/hierarchy"
	"mini/steps/07-cgroups/internal/record"
)

// testContext traces into a buffer, so a test sees every write.
func testContext(spec *steps.Spec) (*steps.Context, *bytes.Buffer) {
	var buf bytes.Buffer
	spec.Trace = true
	return steps.NewContext(spec, "host", &buf), &buf
}

// echoes are the "echo VALUE > FILE" lines of a trace, with dir cut off.
func echoes(trace, dir string) []string {
	var out []string
	for _, line := range strings.Split(trace, "\n") {
		if _, cmd, ok := strings.Cut(line, "] echo "); ok {
			out = append(out, strings.ReplaceAll(cmd, dir, ""))
		}
	}
	return out
}

// touch makes the files the kernel would put in a new cgroup.
func touch(t *testing.T, dir string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var limits = steps.Spec{MemoryLimit: 32 << 20, CPUQuota: 50000, CPUPeriod: 100000, PidsMax: 20}

func TestLimitsV1(t *testing.T) {
	tmp := t.TempDir()
	cg := record.Record{Version: 1, Dirs: map[string]string{
		"memory": tmp + "/memory/mini-abc", "cpu": tmp + "/cpu/mini-abc", "cpuacct": tmp + "/cpu/mini-abc", "pids": tmp + "/pids/mini-abc"}}
	touch(t, cg.Dirs["memory"], "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.oom_control")
	touch(t, cg.Dirs["cpu"], "cpu.cfs_period_us", "cpu.cfs_quota_us")
	touch(t, cg.Dirs["pids"], "pids.max")
	spec := limits
	ctx, trace := testContext(&spec)
	if err := setLimits(ctx, cg); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"33554432 > /memory/mini-abc/memory.limit_in_bytes",
		"33554432 > /memory/mini-abc/memory.memsw.limit_in_bytes",
		"100000 > /cpu/mini-abc/cpu.cfs_period_us",
		"50000 > /cpu/mini-abc/cpu.cfs_quota_us",
		"20 > /pids/mini-abc/pids.max",
	}
	if diff := cmp.Diff(want, echoes(trace.String(), tmp)); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if data, _ := os.ReadFile(cg.Dirs["cpu"] + "/cpu.cfs_quota_us"); string(data) != "50000" {
		t.Errorf("cpu.cfs_quota_us holds %q", data)
	}
	if diff := cmp.Diff([]string{cg.Dirs["memory"], cg.Dirs["cpu"], cg.Dirs["pids"]}, dirs(cg)); diff != "" {
		t.Errorf("dirs, cpu and cpuacct once (-want +got):\n%s", diff)
	}

	// Without swap accounting: swappiness 0 instead of a memsw limit.
	os.Remove(cg.Dirs["memory"] + "/memory.memsw.limit_in_bytes")
	trace.Reset()
	spec.CPUQuota, spec.PidsMax = 0, 0
	if err := setLimits(ctx, cg); err != nil {
		t.Fatal(err)
	}
	want = []string{"33554432 > /memory/mini-abc/memory.limit_in_bytes", "0 > /memory/mini-abc/memory.swappiness"}
	if diff := cmp.Diff(want, echoes(trace.String(), tmp)); diff != "" {
		t.Errorf("writes without memsw (-want +got):\n%s", diff)
	}

	// The kernel's OOM count, and the fallback before Linux 4.13.
	os.WriteFile(cg.Dirs["memory"]+"/memory.oom_control", []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 0o644)
	if n, exact, err := oomKills(cg); n != 2 || !exact || err != nil {
		t.Errorf("oomKills = %d, %v, %v; want 2, exact", n, exact, err)
	}
	os.WriteFile(cg.Dirs["memory"]+"/memory.oom_control", []byte("oom_kill_disable 0\nunder_oom 0\n"), 0o644)
	os.WriteFile(cg.Dirs["memory"]+"/memory.failcnt", []byte("5\n"), 0o644)
	if n, exact, err := oomKills(cg); n != 5 || exact || err != nil {
		t.Errorf("oomKills from failcnt = %d, %v, %v; want 5, not exact", n, exact, err)
	}
}

func TestLimitsV2(t *testing.T) {
	// A systemd host: the root passes memory and pids down, and so does
	// user.slice; the container's parent passes nothing yet.
	tmp := t.TempDir()
	dir := tmp + "/user.slice/user-0.slice/mini-abc"
	touch(t, dir, "memory.max", "memory.swap.max", "cpu.max", "pids.max")
	os.WriteFile(tmp+"/cgroup.subtree_control", []byte("memory pids\n"), 0o644)
	os.WriteFile(tmp+"/user.slice/cgroup.subtree_control", []byte("memory pids\n"), 0o644)
	os.WriteFile(tmp+"/user.slice/user-0.slice/cgroup.subtree_control", []byte("\n"), 0o644)
	spec := limits
	ctx, trace := testContext(&spec)
	for _, parent := range []string{tmp, tmp + "/user.slice", tmp + "/user.slice/user-0.slice"} {
		if err := enable(ctx, parent, controllers(&spec)); err != nil {
			t.Fatal(err)
		}
	}
	cg := record.Record{Version: 2, Dirs: map[string]string{"": dir}}
	if err := setLimits(ctx, cg); err != nil {
		t.Fatal(err)
	}
	// top-down: cpu from the root, then each slice; only what is missing
	want := []string{
		"+cpu > /cgroup.subtree_control",
		"+cpu > /user.slice/cgroup.subtree_control",
		"+memory +cpu +pids > /user.slice/user-0.slice/cgroup.subtree_control",
		"33554432 > /user.slice/user-0.slice/mini-abc/memory.max",
		"0 > /user.slice/user-0.slice/mini-abc/memory.swap.max",
		"50000 100000 > /user.slice/user-0.slice/mini-abc/cpu.max",
		"20 > /user.slice/user-0.slice/mini-abc/pids.max",
	}
	if diff := cmp.Diff(want, echoes(trace.String(), tmp)); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}

	if n, _, err := oomKills(cg); n != 0 || err != nil {
		t.Errorf("oomKills without memory.events = %d, %v", n, err)
	}
	os.WriteFile(dir+"/memory.events", []byte("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644)
	if n, exact, err := oomKills(cg); n != 1 || !exact || err != nil {
		t.Errorf("oomKills = %d, %v, %v; want 1, exact", n, exact, err)
	}
}

// TestMoveIn: the textbook way writes the pid to cgroup.procs of each
// cgroup, which Attach does on cgroup v2 without CLONE_INTO_CGROUP.
func TestMoveIn(t *testing.T) {
	root, tmp := t.TempDir(), t.TempDir()
	spec := &steps.Spec{Root: root, ID: "0123456789ab"}
	ctx, trace := testContext(spec)
	cg := record.Record{Version: 2, Dirs: map[string]string{"": tmp + "/mini-0123456789ab"}}
	touch(t, cg.Dirs[""], "cgroup.procs")
	if err := cg.Save(record.Path(root, spec.ID)); err != nil {
		t.Fatal(err)
	}
	defer func(f func() bool) { cloneIntoCgroup = f }(cloneIntoCgroup)
	cloneIntoCgroup = func() bool { return true }
	if err := (Step{}).Attach(ctx, 4242); err != nil || trace.Len() != 0 {
		t.Fatalf("Attach with CLONE_INTO_CGROUP: %v, trace %q; want nothing done", err, trace)
	}
	cloneIntoCgroup = func() bool { return false }
	if err := (Step{}).Attach(ctx, 4242); err != nil {
		t.Fatal(err)
	}
	if got := echoes(trace.String(), tmp); len(got) != 1 || got[0] != "4242 > /mini-0123456789ab/cgroup.procs" {
		t.Errorf("Attach before Linux 5.7 wrote %q", got)
	}
}

func TestRecord(t *testing.T) {
	path := record.Path(t.TempDir(), "0123456789ab")
	me, err := steps.Self()
	if err != nil {
		t.Fatal(err)
	}
	r := record.Record{Owner: me, Version: 1, Dirs: map[string]string{"memory": "/m/mini-x", "cpu": "/c/mini-x", "cpuacct": "/c/mini-x", "pids": "/p/mini-x"}}
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := record.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("record after a round trip (-want +got):\n%s", diff)
	}
	if !got.Owner.Alive() {
		t.Errorf("the record's owner %+v is not this very process", got.Owner)
	}
	for _, bad := range []record.Record{{Version: 2}, {Version: 2, Dirs: map[string]string{"memory": "/x"}}} {
		bad.Save(path)
		if _, err := record.Load(path); err == nil {
			t.Errorf("Load(%+v): no error", bad)
		}
	}
}

// The reclaim removes the cgroups of a dead owner, and leaves a live one's,
// a record it cannot read and one that names what mini did not make.
func TestReclaim(t *testing.T) {
	root := t.TempDir()
	cg := t.TempDir()
	ctx, _ := testContext(&steps.Spec{Root: root})
	record.CgroupFS = func(dir string) bool { return strings.HasPrefix(dir, cg+"/") }
	defer func(f func(string) bool) { record.CgroupFS = f }(record.CgroupFS)
	mk := func(id, dir string, owner steps.Owner) string {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := record.Path(root, id)
		if err := (record.Record{Owner: owner, Version: 2, Dirs: map[string]string{"": dir}}).Save(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	me, err := steps.Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := steps.Owner{PID: me.PID, Start: me.Start + 1} // the pid, reused
	liveDir, deadDir, other := cg+"/mini-00000000001e", cg+"/mini-0000000000dd", cg+"/someone-else"
	livePath := mk("00000000001e", liveDir, me)
	deadPath := mk("0000000000dd", deadDir, dead)
	planted := mk("0000000000ee", other, dead)
	junk := filepath.Join(root, "cgroups", "junk.json")
	os.WriteFile(junk, nil, 0o600)

	steps.ReclaimDead(ctx, record.Pattern(root), readOwner, release(ctx))
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

// An OCI container's cgroup sits where its cgroupsPath says, under cgroups
// mini made for it: a reclaim removes them, and refuses a record whose
// directories do not end in its path or whose made cgroups are not above
// them.
func TestReclaimConfigPath(t *testing.T) {
	root := t.TempDir()
	cg := t.TempDir()
	ctx, _ := testContext(&steps.Spec{Root: root})
	record.CgroupFS = func(dir string) bool { return strings.HasPrefix(dir, cg+"/") }
	defer func(f func(string) bool) { record.CgroupFS = f }(record.CgroupFS)
	me, err := steps.Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := steps.Owner{PID: me.PID, Start: me.Start + 1}
	save := func(id string, r record.Record) string {
		for _, d := range append(append([]string{}, r.Made...), r.Dirs[""]) {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		path := record.Path(root, id)
		if err := r.Save(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pod, victim := cg+"/kubepods/pod1", cg+"/victim"
	good := save("00000000000a", record.Record{Owner: dead, Version: 2, Path: "/kubepods/pod1/ctr",
		Dirs: map[string]string{"": pod + "/ctr"}, Made: []string{cg + "/kubepods", pod}})
	wrongTail := save("00000000000b", record.Record{Owner: dead, Version: 2, Path: "/a/b",
		Dirs: map[string]string{"": cg + "/elsewhere"}})
	notAbove := save("00000000000c", record.Record{Owner: dead, Version: 2, Path: "/c/d",
		Dirs: map[string]string{"": cg + "/c/d"}, Made: []string{victim}})

	steps.ReclaimDead(ctx, record.Pattern(root), readOwner, release(ctx))
	for _, p := range []string{good, pod + "/ctr", pod, cg + "/kubepods"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it reclaimed", p, err)
		}
	}
	for _, p := range []string{wrongTail, cg + "/elsewhere", notAbove, victim, cg + "/c/d"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it left alone", p, err)
		}
	}
}

// TestOCIV2: on cgroup v2, a config's deep cgroupsPath puts the cgroup
// under the hierarchy's root, the cgroups above it are made and recorded
// (Made, which delete removes), each parent passes the controllers down,
// and the resources v2 spells its own way are written: cpu.weight from the
// shares, memory.low, memory.swap.max as swap alone. What v2 cannot do is
// refused by name.
func TestOCIV2(t *testing.T) {
	tmp, root := t.TempDir(), t.TempDir()
	m := hierarchy.Mount{Root: "/", Point: tmp, FSType: "cgroup2"}
	touch(t, tmp+"/system.slice", "cgroup.subtree_control")
	os.WriteFile(tmp+"/cgroup.subtree_control", []byte("memory pids\n"), 0o644)
	p, err := hierarchy.V2(m, map[string]string{"": "/system.slice/ssh.service"}, "mini-0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	shares, reservation := uint64(512), int64(32<<20)
	o := &steps.OCI{CgroupsPath: "/a/b/c", CPUShares: shares, CPUSetCPUs: "0", MemoryReservation: reservation, MemorySwap: 128 << 20}
	spec := &steps.Spec{Root: root, ID: "0123456789ab", OCI: o, MemoryLimit: 64 << 20}
	if p, err = ociPlace(p, o); err != nil {
		t.Fatal(err)
	}
	want := hierarchy.Place{Version: 2, Dirs: map[string]string{"": tmp + "/a/b/c"},
		Parents: []string{tmp, tmp + "/a", tmp + "/a/b"}, Mounts: map[string]hierarchy.Mount{"": m}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("ociPlace (-want +got):\n%s", diff)
	}
	ctx, trace := testContext(spec)
	cg := record.Record{Version: 2, Dirs: p.Dirs, Path: o.CgroupsPath}
	if err := makeAbove(ctx, p, &cg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{tmp + "/a", tmp + "/a/b"}, cg.Made); diff != "" {
		t.Errorf("made above (-want +got):\n%s", diff)
	}
	saved, err := record.Load(record.Path(root, spec.ID))
	if err != nil || !slices.Equal(saved.Made, cg.Made) {
		t.Errorf("the record says made %v (%v), want %v", saved.Made, err, cg.Made)
	}
	// The kernel would fill the new cgroups with their files.
	touch(t, tmp+"/a", "cgroup.subtree_control")
	touch(t, tmp+"/a/b", "cgroup.subtree_control")
	touch(t, tmp+"/a/b/c", "memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpuset.cpus", "pids.max")
	for _, parent := range p.Parents {
		if err := enable(ctx, parent, controllers(spec)); err != nil {
			t.Fatal(err)
		}
	}
	if err := setLimits(ctx, cg); err != nil {
		t.Fatal(err)
	}
	if err := setOCI(ctx, cg, o); err != nil {
		t.Fatal(err)
	}
	wantWrites := []string{
		"+cpu +cpuset > /cgroup.subtree_control",
		"+memory +cpu +cpuset > /a/cgroup.subtree_control",
		"+memory +cpu +cpuset > /a/b/cgroup.subtree_control",
		"67108864 > /a/b/c/memory.max",
		"0 > /a/b/c/memory.swap.max",
		"20 > /a/b/c/cpu.weight", // 1 + (512-2)*9999/262142
		"0 > /a/b/c/cpuset.cpus",
		"33554432 > /a/b/c/memory.low",
		"67108864 > /a/b/c/memory.swap.max", // 128M of memory+swap, 64M of memory
	}
	if diff := cmp.Diff(wantWrites, echoes(trace.String(), tmp)); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}

	// delete removes the cgroup, then those made above it (rmdir(2) of a
	// real cgroup takes the kernel's files with it: here they go first).
	for _, d := range []string{tmp + "/a/b/c", tmp + "/a/b", tmp + "/a"} {
		files, _ := filepath.Glob(d + "/*.*")
		for _, f := range files {
			os.Remove(f)
		}
	}
	if err := removeCgroup(ctx, record.Path(root, spec.ID), cg); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{tmp + "/a", record.Path(root, spec.ID)} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s after removeCgroup: %v, want it gone", gone, err)
		}
	}
	for _, bad := range []struct {
		o    steps.OCI
		want string
	}{
		{steps.OCI{Swappiness: new(uint64)}, "cgroup v2 has no swappiness"},
		{steps.OCI{DisableOOMKiller: true}, "cannot turn the OOM killer off"},
		{steps.OCI{MemorySwap: 32 << 20}, "needs a memory limit no larger than it"},
	} {
		if err := setOCIV2(ctx, tmp+"/a/b/c", &bad.o); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("setOCIV2(%+v) = %v, want %q", bad.o, err, bad.want)
		}
	}
}
