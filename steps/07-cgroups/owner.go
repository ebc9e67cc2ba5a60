package cgroups

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// record is what mini writes under --root before it makes a cgroup: which
// directories it made and which mini made them. This run's Attach and
// Cleanup act on it; so does a later run, to reclaim the cgroups of a mini
// that was killed (SIGKILL leaves no chance to clean up).
type record struct {
	Owner   steps.Owner       `json:"owner"`   // the mini that made the cgroup
	Version int               `json:"version"` // 1 or 2
	Dirs    []string          `json:"dirs"`
	V1      map[string]string `json:"v1,omitempty"` // v1: controller -> directory
	// Path is an OCI config's cgroupsPath, which names the directories in
	// place of mini-<id>; Made are the directories above them mini made
	// for it, parents first, removed after them if they are empty.
	Path string   `json:"path,omitempty"`
	Made []string `json:"made,omitempty"`
}

// recordPath is <root>/cgroups/<id>.json.
func recordPath(spec *steps.Spec) string {
	return filepath.Join(spec.Root, "cgroups", spec.ID+".json")
}

// newRecord describes d as made by this process.
func newRecord(d driver) (*record, error) {
	me, err := steps.Self()
	if err != nil {
		return nil, err
	}
	r := &record{Owner: me, Version: d.version(), Dirs: d.dirs()}
	if v, ok := d.(*v1); ok {
		r.V1 = v.dir
	}
	return r, nil
}

// made are the directories d's create made, parents first.
func made(d driver) []string {
	switch d := d.(type) {
	case *v1:
		return d.newDirs
	case *v2:
		return d.newDirs
	}
	return nil
}

// driver rebuilds the driver the record was made with.
func (r *record) driver() driver {
	if r.Version == 2 {
		return &v2{dir: r.Dirs[0]}
	}
	return &v1{dir: r.V1}
}

// save writes the record in one write(2): a mini killed half-way leaves an
// empty file at worst, and no cgroup, which is made only after this.
func (r *record) save(ctx *steps.Context, path string) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	ctx.Tracef("write %s: owner pid %d, %v", path, r.Owner.PID, r.Dirs)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		os.Remove(path) // a disk full leaves a part of it, and no cgroup yet
		return err
	}
	return nil
}

func loadRecord(path string) (*record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Dirs) == 0 || r.Version == 2 && len(r.Dirs) != 1 {
		return nil, fmt.Errorf("%s: no cgroup directories in it", path)
	}
	return &r, nil
}

// release kills what is left in the record's cgroups, removes them, and
// then the record. It is Cleanup for this run and reclaim for a dead one.
func release(ctx *steps.Context, path string, r *record) error {
	var errs []error
	dirs := r.Dirs
	for i := len(dirs) - 1; i >= 0; i-- {
		// Usually empty by now (see empty): rmdir at once, and only a
		// cgroup that still holds processes (EBUSY) has them killed first.
		err := remove(ctx, dirs[i])
		if errors.Is(err, unix.EBUSY) {
			if err = empty(ctx, dirs[i]); err == nil {
				err = remove(ctx, dirs[i])
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // keep the record: the next run tries again
	}
	// The cgroups made above an OCI container's, if nothing else is in
	// them: cgroups mini did not make stay (runtime.md: delete removes
	// what create made, and only that).
	for i := len(r.Made) - 1; i >= 0; i-- {
		if !slices.Contains(dirs, r.Made[i]) && cgroupFS(r.Made[i]) {
			ctx.Tracef("rmdir(%q)", r.Made[i])
			_ = unix.Rmdir(r.Made[i])
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// reclaim releases the cgroups of every run under this --root whose mini is
// gone. A record that does not parse is left alone: it is either being
// written right now, or was cut short before any cgroup was made.
func reclaim(ctx *steps.Context) {
	paths, _ := filepath.Glob(filepath.Join(ctx.Spec.Root, "cgroups", "*.json"))
	for _, path := range paths {
		r, err := loadRecord(path)
		if err != nil || r.Owner.Alive() {
			continue
		}
		if err := mine(path, r); err != nil {
			ctx.Tracef("leave %s alone: %v", path, err)
			continue
		}
		ctx.Tracef("reclaim %s: its mini (pid %d) is gone", path, r.Owner.PID)
		if err := release(ctx, path, r); err != nil {
			ctx.Notef("reclaim the cgroups of a dead run (%s): %v", path, err)
		}
	}
}

// mine checks that a record names only what mini would have made for the
// container it is named for: cgroups called mini-<id>, on a cgroup file
// system. A reclaim kills what is in them and removes them: never anything
// else, whatever a record says.
func mine(path string, r *record) error {
	id := strings.TrimSuffix(filepath.Base(path), ".json")
	dirs := append([]string{}, r.Dirs...)
	for _, d := range r.V1 {
		dirs = append(dirs, d)
	}
	tail := "/" + cgroupName(id)
	if r.Path != "" {
		tail = "/" + strings.TrimPrefix(filepath.Clean(r.Path), "/")
	}
	for _, d := range dirs {
		if !steps.ValidID(id) || !strings.HasSuffix(d, tail) || !cgroupFS(d) {
			return fmt.Errorf("%s is not a cgroup mini made for container %q", d, id)
		}
	}
	return nil
}

// cgroupFS is onCgroupFS; a test points it elsewhere.
var cgroupFS = onCgroupFS

// onCgroupFS says whether dir's parent is on a cgroup file system (v1 or
// v2): dir itself may be gone already.
func onCgroupFS(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(filepath.Dir(dir), &st) != nil {
		return false
	}
	return st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC
}
