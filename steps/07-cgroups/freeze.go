package cgroups

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mini/steps"
	"mini/steps/07-cgroups/internal/hierarchy"
	"mini/steps/07-cgroups/internal/record"
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
	r, err := record.Load(record.Path(spec.Root, spec.ID))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNoCgroup
	}
	if err != nil {
		return err
	}
	file, want, done := "freezer.state", "THAWED", func(s string) bool { return strings.TrimSpace(s) == "THAWED" }
	var dir string
	if r.Version == 2 {
		dir, file, want = dirOf(r, ""), "cgroup.freeze", "0"
		done = func(string) bool { return eventsSay(dir, false) }
		if frozen {
			want, done = "1", func(string) bool { return eventsSay(dir, true) }
		}
	} else {
		if dir = r.Dirs["freezer"]; dir == "" {
			return fmt.Errorf("the container has no freezer cgroup: the cgroup v1 freezer controller is not mounted at %s/freezer", hierarchy.Root)
		}
		if frozen {
			want, done = "FROZEN", func(s string) bool { return strings.TrimSpace(s) == "FROZEN" }
		}
	}
	// No trace: pause and resume are runc's commands, whose stderr an
	// engine reads for errors, and the spec's Trace is the one create was
	// given (--debug), which goes to --log, not here.
	ctx := steps.NewContext(spec, "host", io.Discard)
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
	r, err := record.Load(record.Path(spec.Root, spec.ID))
	if err != nil {
		return false
	}
	if r.Version == 2 {
		return eventsSay(dirOf(r, ""), true)
	}
	data, err := os.ReadFile(filepath.Join(r.Dirs["freezer"], "freezer.state"))
	return err == nil && strings.TrimSpace(string(data)) == "FROZEN"
}

// eventsSay says whether a v2 cgroup's cgroup.events says "frozen 1"
// (frozen) or "frozen 0".
func eventsSay(dir string, frozen bool) bool {
	n, found, err := readKeyed(dir, "cgroup.events", "frozen")
	return err == nil && found && (n == 1) == frozen
}
