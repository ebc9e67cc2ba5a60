package cgroups

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"mini/steps"
)

// record is what mini writes under --root before it makes a cgroup: which
// directories it made and which mini made them. This run's Attach and
// Cleanup act on it; so does a later run, to reclaim the cgroups of a mini
// that was killed (SIGKILL leaves no chance to clean up).
type record struct {
	Owner      int               `json:"owner"`       // pid of the mini that made the cgroup
	OwnerStart uint64            `json:"owner_start"` // its start time: pids are reused
	Version    int               `json:"version"`     // 1 or 2
	Dirs       []string          `json:"dirs"`
	V1         map[string]string `json:"v1,omitempty"` // v1: controller -> directory
}

// recordPath is <root>/cgroups/<id>.json.
func recordPath(spec *steps.Spec) string {
	return filepath.Join(spec.Root, "cgroups", spec.ID+".json")
}

// newRecord describes d as made by this process.
func newRecord(d driver) (*record, error) {
	start, err := startTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	r := &record{Owner: os.Getpid(), OwnerStart: start, Version: d.version(), Dirs: d.dirs()}
	if v, ok := d.(*v1); ok {
		r.V1 = v.dir
	}
	return r, nil
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
	ctx.Tracef("write %s: owner pid %d, %v", path, r.Owner, r.Dirs)
	return os.WriteFile(path, data, 0o600)
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

// ownerGone says whether the mini that wrote r has exited: no process has
// its pid, or one that started at another time has.
func (r *record) ownerGone() bool {
	start, err := startTime(r.Owner)
	return err != nil || start != r.OwnerStart
}

// startTime is field 22 of /proc/PID/stat, when the process started, in
// clock ticks since boot (proc_pid_stat(5)). Field 2, the command name, is
// in parentheses and may hold spaces: count from the last ")".
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStartTime(string(data))
}

func parseStartTime(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ) in /proc/PID/stat")
	}
	f := strings.Fields(stat[i+1:]) // field 3 onwards
	if len(f) < 20 {
		return 0, errors.New("short /proc/PID/stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// release kills what is left in the record's cgroups, removes them, and
// then the record. It is Cleanup for this run and reclaim for a dead one.
func release(ctx *steps.Context, path string, r *record) error {
	var errs []error
	dirs := r.Dirs
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := empty(ctx, dirs[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := remove(ctx, dirs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // keep the record: the next run tries again
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
		if err != nil || !r.ownerGone() {
			continue
		}
		ctx.Tracef("reclaim %s: its mini (pid %d) is gone", path, r.Owner)
		if err := release(ctx, path, r); err != nil {
			ctx.Notef("reclaim the cgroups of a dead run (%s): %v", path, err)
		}
	}
}
