package cgroups

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

// A v1 host like the one these tests were written on: memory is mounted in
// a nested cgroup, cpu and cpuacct share a hierarchy, the v2 mount at
// /sys/fs/cgroup/unified is ignored.
const mountinfoV1 = `22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw
25 22 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,relatime shared:4 - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime shared:6 - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
30 25 0:27 / /sys/fs/cgroup/sys\040temd rw - cgroup cgroup rw,xattr,name=systemd
`

const procCgroupV1 = `9:name=systemd:/
8:pids:/
4:memory:/process_api/eaf0
1:cpu,cpuacct:/
0::/
`

func TestParse(t *testing.T) {
	got := parseMountinfo(mountinfoV1)
	want := []mount{
		{root: "/", point: "/sys/fs/cgroup/unified", fstype: "cgroup2", opts: []string{"rw"}},
		{root: "/", point: "/sys/fs/cgroup/cpu,cpuacct", fstype: "cgroup", opts: []string{"rw", "cpu", "cpuacct"}},
		{root: "/", point: "/sys/fs/cgroup/memory", fstype: "cgroup", opts: []string{"rw", "memory"}},
		{root: "/", point: "/sys/fs/cgroup/pids", fstype: "cgroup", opts: []string{"rw", "pids"}},
		{root: "/", point: "/sys/fs/cgroup/sys temd", fstype: "cgroup", opts: []string{"rw", "xattr", "name=systemd"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(mount{})); diff != "" {
		t.Errorf("parseMountinfo (-want +got):\n%s", diff)
	}
	own := parseProcCgroup(procCgroupV1)
	wantOwn := map[string]string{"name=systemd": "/", "pids": "/", "memory": "/process_api/eaf0", "cpu": "/", "cpuacct": "/", "": "/"}
	if diff := cmp.Diff(wantOwn, own); diff != "" {
		t.Errorf("parseProcCgroup (-want +got):\n%s", diff)
	}
}

func TestHostDir(t *testing.T) {
	for _, c := range []struct{ root, p, want string }{
		{"/", "/a/b", "/mnt/a/b"},
		{"/a", "/a/b", "/mnt/b"},
		{"/a", "/a", "/mnt"},
		{"/", "/", "/mnt"},
	} {
		got, err := hostDir(mount{root: c.root, point: "/mnt"}, c.p)
		if err != nil || got != c.want {
			t.Errorf("hostDir(root %s, %s) = %q, %v; want %q", c.root, c.p, got, err, c.want)
		}
	}
	if _, err := hostDir(mount{root: "/a", point: "/mnt"}, "/b"); err == nil {
		t.Error("hostDir outside the mount: no error")
	}
}

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
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestV1(t *testing.T) {
	tmp := t.TempDir()
	mounts := []mount{
		{root: "/", point: tmp + "/cpu,cpuacct", fstype: "cgroup", opts: []string{"rw", "cpu", "cpuacct"}},
		{root: "/", point: tmp + "/memory", fstype: "cgroup", opts: []string{"rw", "memory"}},
		{root: "/", point: tmp + "/pids", fstype: "cgroup", opts: []string{"rw", "pids"}},
		{root: "/", point: tmp + "/unified", fstype: "cgroup2", opts: []string{"rw"}},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.point+"/process_api/eaf0", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := &steps.Spec{MemoryLimit: 32 << 20, CPUQuota: 50000, CPUPeriod: 100000, PidsMax: 20}
	d, err := newV1(spec, mounts, parseProcCgroup(procCgroupV1), "mini-abc")
	if err != nil {
		t.Fatal(err)
	}
	wantDirs := []string{tmp + "/memory/process_api/eaf0/mini-abc", tmp + "/cpu,cpuacct/mini-abc", tmp + "/pids/mini-abc"}
	if diff := cmp.Diff(wantDirs, d.dirs()); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
	ctx, trace := testContext(spec)
	if err := d.create(ctx); err != nil {
		t.Fatal(err)
	}
	touch(t, wantDirs[0], "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.oom_control")
	touch(t, wantDirs[1], "cpu.cfs_period_us", "cpu.cfs_quota_us")
	touch(t, wantDirs[2], "pids.max")
	if err := d.setMemory(ctx, spec.MemoryLimit); err != nil {
		t.Fatal(err)
	}
	if err := d.setCPU(ctx, spec.CPUQuota, spec.CPUPeriod); err != nil {
		t.Fatal(err)
	}
	if err := d.setPids(ctx, spec.PidsMax); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"33554432 > /memory/process_api/eaf0/mini-abc/memory.limit_in_bytes",
		"33554432 > /memory/process_api/eaf0/mini-abc/memory.memsw.limit_in_bytes",
		"100000 > /cpu,cpuacct/mini-abc/cpu.cfs_period_us",
		"50000 > /cpu,cpuacct/mini-abc/cpu.cfs_quota_us",
		"20 > /pids/mini-abc/pids.max",
	}
	if diff := cmp.Diff(want, echoes(trace.String(), tmp)); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	data, _ := os.ReadFile(wantDirs[1] + "/cpu.cfs_quota_us")
	if string(data) != "50000" {
		t.Errorf("cpu.cfs_quota_us holds %q", data)
	}

	// Without swap accounting: swappiness 0 instead of a memsw limit.
	os.Remove(wantDirs[0] + "/memory.memsw.limit_in_bytes")
	trace.Reset()
	if err := d.setMemory(ctx, spec.MemoryLimit); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"33554432 > /memory/process_api/eaf0/mini-abc/memory.limit_in_bytes",
		"0 > /memory/process_api/eaf0/mini-abc/memory.swappiness",
	}
	if diff := cmp.Diff(want, echoes(trace.String(), tmp)); diff != "" {
		t.Errorf("writes without memsw (-want +got):\n%s", diff)
	}

	// The kernel's OOM count, and the fallback before Linux 4.13.
	os.WriteFile(wantDirs[0]+"/memory.oom_control", []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 0o644)
	if n, exact, err := d.oomKills(); n != 2 || !exact || err != nil {
		t.Errorf("oomKills = %d, %v, %v; want 2, exact", n, exact, err)
	}
	os.WriteFile(wantDirs[0]+"/memory.oom_control", []byte("oom_kill_disable 0\nunder_oom 0\n"), 0o644)
	os.WriteFile(wantDirs[0]+"/memory.failcnt", []byte("5\n"), 0o644)
	if n, exact, err := d.oomKills(); n != 5 || exact || err != nil {
		t.Errorf("oomKills from failcnt = %d, %v, %v; want 5, not exact", n, exact, err)
	}
}

func TestV1MissingController(t *testing.T) {
	tmp := t.TempDir()
	mounts := []mount{{root: "/", point: tmp + "/memory", fstype: "cgroup", opts: []string{"memory"}}}
	own := map[string]string{"memory": "/", "pids": "/"}
	d, err := newV1(&steps.Spec{}, mounts, own, "mini-abc")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{tmp + "/memory/mini-abc"}, d.dirs()); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
	_, err = newV1(&steps.Spec{PidsMax: 20}, mounts, own, "mini-abc")
	if err == nil || !strings.Contains(err.Error(), "pids controller is not mounted") {
		t.Errorf("pids limit without a pids hierarchy: %v", err)
	}
}

func TestV2(t *testing.T) {
	// A systemd host: mini runs in a session scope, two slices down; the
	// root passes memory and pids down, and so does user.slice.
	tmp := t.TempDir()
	scope := tmp + "/user.slice/user-0.slice/session-1.scope"
	if err := os.MkdirAll(scope, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tmp+"/cgroup.subtree_control", []byte("memory pids\n"), 0o644)
	os.WriteFile(tmp+"/user.slice/cgroup.subtree_control", []byte("memory pids\n"), 0o644)
	os.WriteFile(tmp+"/user.slice/user-0.slice/cgroup.subtree_control", []byte("\n"), 0o644)

	spec := &steps.Spec{MemoryLimit: 32 << 20, CPUQuota: 50000, CPUPeriod: 100000, PidsMax: 20}
	m := mount{root: "/", point: tmp, fstype: "cgroup2"}
	d, err := newV2(spec, m, map[string]string{"": "/user.slice/user-0.slice/session-1.scope"}, "mini-abc")
	if err != nil {
		t.Fatal(err)
	}
	// beside mini's scope, which holds processes, not below it
	dir := tmp + "/user.slice/user-0.slice/mini-abc"
	if diff := cmp.Diff([]string{dir}, d.dirs()); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
	ctx, trace := testContext(spec)
	if err := d.create(ctx); err != nil {
		t.Fatal(err)
	}
	touch(t, dir, "memory.max", "memory.swap.max", "cpu.max", "pids.max")
	if err := d.setMemory(ctx, spec.MemoryLimit); err != nil {
		t.Fatal(err)
	}
	if err := d.setCPU(ctx, spec.CPUQuota, spec.CPUPeriod); err != nil {
		t.Fatal(err)
	}
	if err := d.setPids(ctx, spec.PidsMax); err != nil {
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

	if n, _, err := d.oomKills(); n != 0 || err != nil {
		t.Errorf("oomKills without memory.events = %d, %v", n, err)
	}
	os.WriteFile(dir+"/memory.events", []byte("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644)
	if n, exact, err := d.oomKills(); n != 1 || !exact || err != nil {
		t.Errorf("oomKills = %d, %v, %v; want 1, exact", n, exact, err)
	}
}

func TestV2InRoot(t *testing.T) {
	// mini in the root cgroup (the rule exempts it): the container goes
	// right below, and no limit means no controller to turn on.
	tmp := t.TempDir()
	os.WriteFile(tmp+"/cgroup.subtree_control", nil, 0o644)
	spec := &steps.Spec{}
	d, err := newV2(spec, mount{root: "/", point: tmp, fstype: "cgroup2"}, map[string]string{"": "/"}, "mini-abc")
	if err != nil {
		t.Fatal(err)
	}
	ctx, trace := testContext(spec)
	if err := d.create(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{tmp + "/mini-abc"}, d.dirs()); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
	if got := echoes(trace.String(), tmp); len(got) != 0 {
		t.Errorf("writes without limits: %q", got)
	}
}
