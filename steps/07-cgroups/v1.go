package cgroups

import (
	"fmt"
	"slices"

	"mini/steps"
)

// v1Controllers are the hierarchies a container joins on cgroup v1: the
// three that limit it, and cpuacct, which counts the CPU time it used
// (cpuacct.usage). Where cpu and cpuacct are mounted together they share
// one directory. A container made from an OCI config joins more when it
// needs them (v1Extra).
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// v1Extra are the hierarchies an OCI config's container may join too:
// cpuset for linux.resources.cpu.cpus and mems, devices for the device
// rules, freezer for mini pause.
var v1Extra = []string{"cpuset", "devices", "freezer"}

// v1 is the cgroup v1 driver: one directory per controller, each in that
// controller's own hierarchy (/sys/fs/cgroup/memory/..., /sys/fs/cgroup/pids/...).
type v1 struct {
	dir     map[string]string // controller -> the container's cgroup directory
	newDirs []string          // the directories create made, parents first
}

// newV1 places the container's cgroup in each v1 hierarchy, under the
// cgroup mini is in there. A controller that is not mounted is an error
// only when a limit needs it.
func newV1(spec *steps.Spec, mounts []mount, own map[string]string, name string) (*v1, error) {
	need := map[string]bool{"memory": spec.MemoryLimit > 0, "cpu": spec.CPUQuota > 0, "pids": spec.PidsMax > 0}
	controllers := v1Controllers
	if o := spec.OCI; o != nil {
		need["cpu"] = need["cpu"] || o.CPUShares > 0
		need["memory"] = need["memory"] || o.MemoryReservation != 0 || o.MemorySwap != 0 || o.Swappiness != nil || o.DisableOOMKiller
		need["cpuset"] = o.CPUSetCPUs != "" || o.CPUSetMems != ""
		need["devices"] = len(o.DeviceRules) > 0
		need["freezer"] = true
		controllers = append(append([]string{}, v1Controllers...), v1Extra...)
	}
	d := &v1{dir: map[string]string{}}
	for _, c := range controllers {
		if c == "cpuset" && !need[c] {
			continue // a cpuset cgroup must be given CPUs before it holds a task
		}
		m, ok := v1Mount(mounts, c)
		p, inIt := own[c]
		if !ok || !inIt {
			if need[c] {
				return nil, fmt.Errorf("the cgroup v1 %s controller is not mounted: mount it at %s/%s (mount -t cgroup -o %s cgroup %s/%s)", c, cgroupRoot, c, c, cgroupRoot, c)
			}
			continue
		}
		parent, err := hostDir(m, p)
		if err != nil {
			return nil, err
		}
		if d.dir[c], err = place(spec, m, parent, name); err != nil {
			return nil, err
		}
	}
	if len(d.dir) == 0 {
		return nil, fmt.Errorf("no cgroup v1 hierarchy is mounted under %s", cgroupRoot)
	}
	return d, nil
}

// v1Mount finds the hierarchy controller c is attached to: a cgroup mount
// whose options name it ("rw,memory", "rw,cpu,cpuacct").
func v1Mount(mounts []mount, c string) (mount, bool) {
	for _, m := range mounts {
		if m.fstype == "cgroup" && slices.Contains(m.opts, c) {
			return m, true
		}
	}
	return mount{}, false
}

func (d *v1) version() int                  { return 1 }
func (d *v1) controllerDir(c string) string { return d.dir[c] }

// dirs lists each directory once, in the order of v1Controllers, then
// v1Extra.
func (d *v1) dirs() []string {
	var out []string
	for _, c := range append(append([]string{}, v1Controllers...), v1Extra...) {
		if dir, ok := d.dir[c]; ok && !slices.Contains(out, dir) {
			out = append(out, dir)
		}
	}
	return out
}

// create makes the directory in each hierarchy, and those missing above
// it (an OCI config's cgroupsPath may be deep). v1 has no rule about where
// processes live, and a controller is on in every cgroup of its hierarchy.
// A new cpuset cgroup has no CPUs and no memory nodes, and takes no task
// until it has some: each one made gets its parent's.
func (d *v1) create(ctx *steps.Context) error {
	for _, dir := range d.dirs() {
		made, err := mkdirAll(ctx, dir)
		d.newDirs = append(d.newDirs, made...)
		if err != nil {
			return err
		}
		if dir == d.dir["cpuset"] {
			for _, m := range made {
				if err := inheritCpuset(ctx, m); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
