package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// v2 is the cgroup v2 driver: one directory in the unified hierarchy, with
// every controller's files in it.
type v2 struct {
	root    string   // where the hierarchy is mounted, /sys/fs/cgroup
	dir     string   // the container's cgroup
	enable  []string // controllers its limits need
	newDirs []string // the directories create made, parents first
}

// newV2 places the container's cgroup. cgroup v2 lets processes live only
// in leaves once controllers are on ("no internal processes", cgroups(7)):
// a cgroup that holds processes cannot pass controllers to its children.
// mini's own cgroup holds mini (and usually the shell that started it: a
// session-N.scope), so the container cannot go below it. It goes beside
// it, under the same parent, which holds no processes; or under the root
// when mini is in the root, which the rule exempts.
func newV2(spec *steps.Spec, m mount, own map[string]string, name string) (*v2, error) {
	p, ok := own[""]
	if !ok {
		return nil, fmt.Errorf("no cgroup v2 line (0::) in /proc/self/cgroup")
	}
	mine, err := hostDir(m, p)
	if err != nil {
		return nil, err
	}
	parent := mine
	if mine != m.point {
		parent = filepath.Dir(mine)
	}
	dir, err := place(spec, m, parent, name)
	if err != nil {
		return nil, err
	}
	d := &v2{root: m.point, dir: dir}
	o := spec.OCI
	if spec.MemoryLimit > 0 || o != nil && (o.MemoryReservation != 0 || o.MemorySwap != 0) {
		d.enable = append(d.enable, "memory")
	}
	if spec.CPUQuota > 0 || o != nil && o.CPUShares > 0 {
		d.enable = append(d.enable, "cpu")
	}
	if o != nil && (o.CPUSetCPUs != "" || o.CPUSetMems != "") {
		d.enable = append(d.enable, "cpuset")
	}
	if spec.PidsMax > 0 {
		d.enable = append(d.enable, "pids")
	}
	return d, nil
}

func (d *v2) version() int                { return 2 }
func (d *v2) dirs() []string              { return []string{d.dir} }
func (d *v2) controllerDir(string) string { return d.dir }

// create turns on the controllers the limits need in cgroup.subtree_control
// of every cgroup from the root down to the container's parent (a
// controller is available in a cgroup only if its parent passes it down),
// then makes the container's cgroup. On a systemd host the root passes down
// only memory and pids until someone asks for cpu.
func (d *v2) create(ctx *steps.Context) error {
	parent := filepath.Dir(d.dir)
	rel, err := filepath.Rel(d.root, parent)
	if err != nil {
		return err
	}
	chain := []string{d.root}
	if rel != "." {
		for i, part := range strings.Split(rel, "/") {
			chain = append(chain, filepath.Join(chain[i], part))
		}
	}
	for _, dir := range chain {
		// An OCI config's cgroupsPath may name cgroups that are not there.
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := mkdir(ctx, dir); err != nil {
				return err
			}
			d.newDirs = append(d.newDirs, dir)
		}
		if err := enableControllers(ctx, dir, d.enable); err != nil {
			return err
		}
	}
	if err := mkdir(ctx, d.dir); err != nil {
		return err
	}
	d.newDirs = append(d.newDirs, d.dir)
	return nil
}

// enableControllers writes "+c" to dir/cgroup.subtree_control for each
// controller c not on there already, all in one write. mini does not turn
// them off again: other cgroups may rely on them by then (runc and docker
// leave them on too).
func enableControllers(ctx *steps.Context, dir string, want []string) error {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read %s/cgroup.subtree_control: %w", dir, err)
	}
	on := strings.Fields(string(data))
	var add []string
	for _, c := range want {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = Write(ctx, dir, "cgroup.subtree_control", strings.Join(add, " "))
	switch {
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w (this cgroup holds processes, and cgroup v2 lets only a cgroup without processes pass controllers to its children)", err)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w (a controller is not available here: see %s/cgroup.controllers)", err, dir)
	}
	return err
}
