// Package record is what step 7 writes under --root before it makes a
// cgroup: which directories, and which mini made them (steps.Owner). This
// run's hooks act on it; so does a later run, to reclaim the cgroups of a
// mini killed by SIGKILL, and mini stats, top and exec, to find a running
// container's cgroup. Machinery, not the lesson (steps/07-cgroups/cgroups.go).
package record

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Record is one container's cgroup and its owner.
type Record struct {
	Owner   steps.Owner `json:"owner"`   // the mini that made the cgroup
	Version int         `json:"version"` // 1 or 2
	// Dirs: on v1, controller -> directory; on v2, "" -> the one directory.
	Dirs map[string]string `json:"dirs"`
	// Path is an OCI config's cgroupsPath, which names the directories in
	// place of mini-<id>; Made are the cgroups above them mini made for it,
	// parents first, removed after them if they are empty.
	Path string   `json:"path,omitempty"`
	Made []string `json:"made,omitempty"`
}

// Path is <root>/cgroups/<id>.json.
func Path(root, id string) string { return filepath.Join(root, "cgroups", id+".json") }

// Pattern matches every record under root.
func Pattern(root string) string { return filepath.Join(root, "cgroups", "*.json") }

// Save writes the record in one write(2): a mini killed half-way leaves an
// empty file at worst, and no cgroup, which is made only after this.
func (r Record) Save(path string) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		os.Remove(path) // a disk full leaves a part of it, and no cgroup yet
		return err
	}
	return nil
}

// Load reads what Save wrote.
func Load(path string) (Record, error) {
	var r Record
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	_, v2 := r.Dirs[""]
	if len(r.Dirs) == 0 || r.Version == 2 && (!v2 || len(r.Dirs) != 1) {
		return r, fmt.Errorf("%s: no cgroup directories in it", path)
	}
	return r, nil
}

// Mine checks that the record at path names only what mini would have made
// for the container it is named for: cgroups called name(id), or ending in
// the config's cgroupsPath, on a cgroup file system. A reclaim kills what is
// in them and removes them: never anything else, whatever a record says.
func Mine(path string, r Record, name func(id string) string) error {
	id := strings.TrimSuffix(filepath.Base(path), ".json")
	tail := "/" + name(id)
	if r.Path != "" {
		tail = "/" + strings.TrimPrefix(filepath.Clean(r.Path), "/")
	}
	for _, d := range r.Dirs {
		if !steps.ValidID(id) || !strings.HasSuffix(d, tail) || !CgroupFS(d) {
			return fmt.Errorf("%s is not a cgroup mini made for container %q", d, id)
		}
	}
	for _, d := range r.Made {
		if !CgroupFS(d) || !isAbove(d, r.Dirs) {
			return fmt.Errorf("%s is not a cgroup mini made for container %q", d, id)
		}
	}
	return nil
}

// isAbove says whether d is an ancestor of one of dirs.
func isAbove(d string, dirs map[string]string) bool {
	for _, x := range dirs {
		if strings.HasPrefix(x, filepath.Clean(d)+"/") {
			return true
		}
	}
	return false
}

// CgroupFS is onCgroupFS; a test points it elsewhere.
var CgroupFS = onCgroupFS

// onCgroupFS says whether dir's parent is on a cgroup file system (v1 or
// v2): dir itself may be gone already.
func onCgroupFS(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(filepath.Dir(dir), &st) != nil {
		return false
	}
	return st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC
}
