package hierarchy

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
	got := ParseMountinfo(mountinfoV1)
	want := []Mount{
		{Root: "/", Point: "/sys/fs/cgroup/unified", FSType: "cgroup2", Opts: []string{"rw"}},
		{Root: "/", Point: "/sys/fs/cgroup/cpu,cpuacct", FSType: "cgroup", Opts: []string{"rw", "cpu", "cpuacct"}},
		{Root: "/", Point: "/sys/fs/cgroup/memory", FSType: "cgroup", Opts: []string{"rw", "memory"}},
		{Root: "/", Point: "/sys/fs/cgroup/pids", FSType: "cgroup", Opts: []string{"rw", "pids"}},
		{Root: "/", Point: "/sys/fs/cgroup/sys temd", FSType: "cgroup", Opts: []string{"rw", "xattr", "name=systemd"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseMountinfo (-want +got):\n%s", diff)
	}
	own := ParseProcCgroup(procCgroupV1)
	wantOwn := map[string]string{"name=systemd": "/", "pids": "/", "memory": "/process_api/eaf0", "cpu": "/", "cpuacct": "/", "": "/"}
	if diff := cmp.Diff(wantOwn, own); diff != "" {
		t.Errorf("ParseProcCgroup (-want +got):\n%s", diff)
	}
}

func TestHostDir(t *testing.T) {
	for _, c := range []struct{ root, p, want string }{
		{"/", "/a/b", "/mnt/a/b"},
		{"/a", "/a/b", "/mnt/b"},
		{"/a", "/a", "/mnt"},
		{"/", "/", "/mnt"},
	} {
		got, err := HostDir(Mount{Root: c.root, Point: "/mnt"}, c.p)
		if err != nil || got != c.want {
			t.Errorf("HostDir(root %s, %s) = %q, %v; want %q", c.root, c.p, got, err, c.want)
		}
	}
	if _, err := HostDir(Mount{Root: "/a", Point: "/mnt"}, "/b"); err == nil {
		t.Error("HostDir outside the mount: no error")
	}
}

func TestV1(t *testing.T) {
	tmp := t.TempDir()
	mounts := []Mount{
		{Root: "/", Point: tmp + "/cpu,cpuacct", FSType: "cgroup", Opts: []string{"rw", "cpu", "cpuacct"}},
		{Root: "/", Point: tmp + "/memory", FSType: "cgroup", Opts: []string{"rw", "memory"}},
		{Root: "/", Point: tmp + "/pids", FSType: "cgroup", Opts: []string{"rw", "pids"}},
		{Root: "/", Point: tmp + "/unified", FSType: "cgroup2", Opts: []string{"rw"}},
	}
	p, err := V1(mounts, ParseProcCgroup(procCgroupV1), "mini-abc", V1Controllers, []string{"memory", "cpu", "pids"})
	if err != nil {
		t.Fatal(err)
	}
	want := Place{Version: 1, Dirs: map[string]string{
		"memory":  tmp + "/memory/process_api/eaf0/mini-abc",
		"cpu":     tmp + "/cpu,cpuacct/mini-abc",
		"cpuacct": tmp + "/cpu,cpuacct/mini-abc",
		"pids":    tmp + "/pids/mini-abc",
	}, Mounts: map[string]Mount{"memory": mounts[1], "cpu": mounts[0], "cpuacct": mounts[0], "pids": mounts[2]}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("V1 (-want +got):\n%s", diff)
	}
}

func TestV1MissingController(t *testing.T) {
	tmp := t.TempDir()
	mounts := []Mount{{Root: "/", Point: tmp + "/memory", FSType: "cgroup", Opts: []string{"memory"}}}
	own := map[string]string{"memory": "/", "pids": "/"}
	p, err := V1(mounts, own, "mini-abc", V1Controllers, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"memory": tmp + "/memory/mini-abc"}, p.Dirs); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
	_, err = V1(mounts, own, "mini-abc", V1Controllers, []string{"pids"})
	if err == nil || !strings.Contains(err.Error(), "pids controller is not mounted") {
		t.Errorf("pids limit without a pids hierarchy: %v", err)
	}
}

func TestChain(t *testing.T) {
	got, err := Chain("/sys/fs/cgroup", "/sys/fs/cgroup/a/b")
	if diff := cmp.Diff([]string{"/sys/fs/cgroup", "/sys/fs/cgroup/a", "/sys/fs/cgroup/a/b"}, got); diff != "" || err != nil {
		t.Errorf("Chain (-want +got):\n%s %v", diff, err)
	}
	if _, err := Chain("/sys/fs/cgroup", "/sys/fs"); err == nil {
		t.Error("Chain above the top: no error")
	}
}

func TestV2(t *testing.T) {
	// A systemd host: mini runs in a session scope, two slices down. The
	// container goes beside the scope, which holds processes, not below it.
	tmp := t.TempDir()
	if err := os.MkdirAll(tmp+"/user.slice/user-0.slice/session-1.scope", 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := V2(Mount{Root: "/", Point: tmp, FSType: "cgroup2"}, map[string]string{"": "/user.slice/user-0.slice/session-1.scope"}, "mini-abc")
	if err != nil {
		t.Fatal(err)
	}
	m := Mount{Root: "/", Point: tmp, FSType: "cgroup2"}
	want := Place{Version: 2, Dirs: map[string]string{"": tmp + "/user.slice/user-0.slice/mini-abc"},
		Parents: []string{tmp, tmp + "/user.slice", tmp + "/user.slice/user-0.slice"}, Mounts: map[string]Mount{"": m}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("V2 (-want +got):\n%s", diff)
	}
	// mini in the root cgroup (the rule exempts it): right below it.
	p, err = V2(Mount{Root: "/", Point: tmp, FSType: "cgroup2"}, map[string]string{"": "/"}, "mini-abc")
	want = Place{Version: 2, Dirs: map[string]string{"": tmp + "/mini-abc"}, Parents: []string{tmp}, Mounts: map[string]Mount{"": m}}
	if diff := cmp.Diff(want, p); diff != "" || err != nil {
		t.Errorf("V2 in the root (-want +got):\n%s %v", diff, err)
	}
}
