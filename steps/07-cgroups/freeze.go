package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mini/steps"
)

// The freezer stops every process of a cgroup where it is, and lets it go
// on later: mini pause and resume (runc's), for an OCI container. On v1 it
// is a hierarchy of its own, freezer.state FROZEN or THAWED; on v2 every
// cgroup has cgroup.freeze, and cgroup.events says "frozen 1" once it is
// (Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst, cgroup-v2.rst).

// freezeTimeout bounds the wait for a cgroup to freeze: a task in an
// uninterruptible sleep freezes only when it wakes.
const freezeTimeout = 10 * time.Second

// Freeze freezes (frozen) or thaws the cgroup of the container spec, and
// waits until the kernel says it is done.
func Freeze(spec *steps.Spec, frozen bool) error {
	r, err := loadRecord(recordPath(spec))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNoCgroup
	}
	if err != nil {
		return err
	}
	file, want, done := "freezer.state", "THAWED", func(s string) bool { return strings.TrimSpace(s) == "THAWED" }
	var dir string
	if r.Version == 2 {
		dir, file, want = r.Dirs[0], "cgroup.freeze", "0"
		done = func(string) bool { return keyed(dir, "cgroup.events", "frozen") == "0" }
		if frozen {
			want, done = "1", func(string) bool { return keyed(dir, "cgroup.events", "frozen") == "1" }
		}
	} else {
		if dir = r.V1["freezer"]; dir == "" {
			return fmt.Errorf("the container has no freezer cgroup: the cgroup v1 freezer controller is not mounted at %s/freezer", cgroupRoot)
		}
		if frozen {
			want, done = "FROZEN", func(s string) bool { return strings.TrimSpace(s) == "FROZEN" }
		}
	}
	ctx := steps.NewContext(spec, "host", os.Stderr)
	if err := Write(ctx, dir, file, want); err != nil {
		return err
	}
	for deadline := time.Now().Add(freezeTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		// v1 says FREEZING until every task is frozen.
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if done(string(data)) {
			return nil
		}
	}
	return fmt.Errorf("%s: the cgroup did not freeze within %v", dir, freezeTimeout)
}

// Frozen says whether the cgroup of the container spec is frozen.
func Frozen(spec *steps.Spec) bool {
	r, err := loadRecord(recordPath(spec))
	if err != nil {
		return false
	}
	if r.Version == 2 {
		return keyed(r.Dirs[0], "cgroup.events", "frozen") == "1"
	}
	data, err := os.ReadFile(filepath.Join(r.V1["freezer"], "freezer.state"))
	return err == nil && strings.TrimSpace(string(data)) == "FROZEN"
}

// keyed is the value of key in a "key value" file, "" if it has none.
func keyed(dir, file, key string) string {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
