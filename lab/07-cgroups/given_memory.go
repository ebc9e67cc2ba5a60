package cgroups

// Given: not part of the exercise. A copy of mini's
// steps/07-cgroups/memory.go, less what you write, kept equal to it by
// lab/given_test.go (go test ./lab -update).

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomKills (v1): memory.oom_control has an "oom_kill N" line since Linux
// 4.13. Before, only memory.failcnt tells: how often the limit was hit.
func (d *v1) oomKills() (int64, bool, error) {
	dir, ok := d.dir["memory"]
	if !ok {
		return 0, true, nil
	}
	n, found, err := readKeyed(dir, "memory.oom_control", "oom_kill")
	if err != nil || found {
		return n, true, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "memory.failcnt"))
	if err != nil {
		return 0, false, err
	}
	n, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n, false, err
}

// oomKills (v2): memory.events counts "oom_kill" events. The file exists
// only when the memory controller is on for the cgroup, that is with -m.
func (d *v2) oomKills() (int64, bool, error) {
	n, _, err := readKeyed(d.dir, "memory.events", "oom_kill")
	if errors.Is(err, os.ErrNotExist) {
		return 0, true, nil
	}
	return n, true, err
}
