package steps

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Owner is a mini process as a later one can recognise it. A pid alone is
// not enough: the kernel reuses pids, so it goes with the process's start
// time. Steps write the Owner beside what they make on the host (step 6's
// lease, step 7's cgroup, step 8's layers under --rm), so that the next run
// can reclaim what a mini killed by SIGKILL, which had no chance to clean up,
// left behind.
type Owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // field 22 of /proc/PID/stat: clock ticks after boot
}

// Self is this process as an Owner. Its start time does not change, so
// /proc/self/stat is read once however many steps ask.
func Self() (Owner, error) { return self() }

var self = sync.OnceValues(func() (Owner, error) {
	start, err := ProcessStart(os.Getpid())
	if err != nil {
		return Owner{}, fmt.Errorf("read this process's start time: %w", err)
	}
	return Owner{PID: os.Getpid(), Start: start}, nil
})

// Alive says whether the owner still runs: its pid exists and started at the
// same time (a reused pid has another start time). When it cannot tell, it
// says alive: reclaiming a live container's address or cgroup is worse than
// keeping a dead one's until the next run.
// A zombie (state Z: it has exited, and its parent has not reaped it yet)
// is gone: it runs no more code.
func (o Owner) Alive() bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(o.PID) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	got, err := parseStart(string(data))
	if err != nil {
		return true
	}
	return got == o.Start && !zombie(string(data))
}

// zombie says whether a /proc/PID/stat line is a zombie's: field 3, the
// state, is Z (or X, dead, which is seen only for a moment).
func zombie(stat string) bool {
	f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// ProcessStart is a process's start time in clock ticks after boot, field 22
// of /proc/PID/stat (proc_pid_stat(5)).
func ProcessStart(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStart(string(data))
}

// parseStart reads field 22 of a /proc/PID/stat line. Field 2, the command
// name in parentheses, may hold spaces and parentheses itself: count the
// fields after the last ")".
func parseStart(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // field 3 (state) is f[0]
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/PID/stat: only %d fields after the command name", len(f))
	}
	return strconv.ParseUint(f[22-3], 10, 64)
}

// WriteOwner writes o to path as JSON, in one write(2): a mini killed
// half-way leaves an empty file at worst, which ReadOwner refuses.
func WriteOwner(path string, o Owner) error {
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// ReadOwner reads what WriteOwner wrote.
func ReadOwner(path string) (Owner, error) {
	var o Owner
	data, err := os.ReadFile(path)
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(data, &o); err != nil || o.PID <= 0 {
		return o, fmt.Errorf("%s: no owner in it", path)
	}
	return o, nil
}

// StateError says what to do about an error writing mini's state under
// --root. The error names the path already (os's errors do): the hint names
// no path again, so the line says it once.
func StateError(err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Errorf("%w (--root's file system is full: free space, or use another --root)", err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.EROFS), errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w (use a --root mini can write)", err)
	}
	return err
}

// SplitLive splits records into those whose owner still runs and those
// whose owner is gone; owner says whose each is, alive judges it
// (Owner.Alive, or a test's stand-in). Step 6 splits its leases with it.
func SplitLive[T any](records []T, owner func(T) Owner, alive func(Owner) bool) (live, dead []T) {
	for _, r := range records {
		if alive(owner(r)) {
			live = append(live, r)
		} else {
			dead = append(dead, r)
		}
	}
	return live, dead
}

// ReclaimDead is the one reclaim loop for what runs leave on the host in
// files of their own (step 7's cgroup records, step 8's layers to remove):
// for each file matching pattern whose owner, as read says, is gone, it
// calls release. A file read cannot make sense of is left alone: it is
// being written right now, or was cut short before anything was made.
// release's errors are printed, not returned: the next run tries again.
func ReclaimDead(ctx *Context, pattern string, read func(path string) (Owner, error), release func(path string) error) {
	paths, _ := filepath.Glob(pattern)
	for _, path := range paths {
		o, err := read(path)
		if err != nil || o.Alive() {
			continue
		}
		ctx.Tracef("reclaim %s: its mini (pid %d) is gone", path, o.PID)
		if err := release(path); err != nil {
			ctx.Notef("reclaim what a dead run left (%s): %v", path, err)
		}
	}
}
