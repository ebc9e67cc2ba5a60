package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/07-cgroups/internal/kill"
	"mini/steps/07-cgroups/internal/record"
)

// What mini stats, top and exec read of a running container's cgroup, from
// the record its Prepare wrote (recordPath): where the files are stays this
// step's business.

// Usage is what a container's cgroup says it uses. Each Has* is false when
// the cgroup does not have that controller (on cgroup v2, memory and pids
// are on only for a container with -m or --pids-limit).
type Usage struct {
	CPU         int64 // ns of CPU time used since the cgroup was made
	Memory      int64 // bytes, without the page cache the kernel drops first
	MemoryLimit int64 // bytes; 0 for no limit
	Pids        int64 // tasks: processes and threads
	HasCPU      bool
	HasMemory   bool
	HasPids     bool
}

// ErrNoCgroup is returned for a container that has no cgroup: it runs
// below step 7, or it has ended.
var ErrNoCgroup = errors.New("no cgroup")

func load(spec *steps.Spec) (record.Record, error) {
	cg, err := record.Load(record.Path(spec.Root, spec.ID))
	if errors.Is(err, os.ErrNotExist) {
		return cg, ErrNoCgroup
	}
	return cg, err
}

// ReadUsage reads what the cgroup of the container spec uses: CPU time
// (v2: usage_usec in cpu.stat, which every cgroup has; v1: cpuacct.usage,
// ns), memory less the page cache the kernel may drop first (inactive_file
// in memory.stat), as docker stats shows it, and the tasks (pids.current).
func ReadUsage(spec *steps.Spec) (Usage, error) {
	cg, err := load(spec)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	if cg.Version == 2 {
		dir := dirOf(cg, "")
		us, found, err := readKeyed(dir, "cpu.stat", "usage_usec")
		u.CPU, u.HasCPU = us*1000, err == nil && found
		u.Memory, u.HasMemory = memoryUsed(dir, "memory.current", "inactive_file")
		u.MemoryLimit, _ = readInt(dir, "memory.max")
	} else {
		if dir, ok := cg.Dirs["cpuacct"]; ok {
			n, err := readInt(dir, "cpuacct.usage")
			u.CPU, u.HasCPU = n, err == nil
		}
		if dir, ok := cg.Dirs["memory"]; ok {
			u.Memory, u.HasMemory = memoryUsed(dir, "memory.usage_in_bytes", "total_inactive_file")
			// Without a limit v1 says the largest multiple of the page
			// size below 2^63.
			if limit, err := readInt(dir, "memory.limit_in_bytes"); err == nil && limit < 1<<62 {
				u.MemoryLimit = limit
			}
		}
	}
	if dir := dirOf(cg, "pids"); dir != "" {
		n, err := readInt(dir, "pids.current")
		u.Pids, u.HasPids = n, err == nil
	}
	return u, nil
}

// memoryUsed is the number in dir/file less the inactive page cache.
func memoryUsed(dir, file, inactiveKey string) (int64, bool) {
	used, err := readInt(dir, file)
	if err != nil {
		return 0, false
	}
	if inactive, found, err := readKeyed(dir, "memory.stat", inactiveKey); err == nil && found && inactive < used {
		used -= inactive
	}
	return used, true
}

// Procs lists the processes in the cgroup of the container spec.
func Procs(spec *steps.Spec) ([]int, error) {
	cg, err := load(spec)
	if err != nil {
		return nil, err
	}
	return kill.Procs(dirs(cg)[0])
}

// Joiner is how another process joins a container's cgroup, the way its
// first process did (procs.go): on v2, Dir, its directory opened O_PATH for
// clone3(2)'s CLONE_INTO_CGROUP; on v1, Tasks, each hierarchy's tasks file
// opened for writing, to which the process writes "0" before it execs.
// mini exec uses it. Close closes them.
type Joiner struct {
	Dir   *os.File
	Tasks []*os.File
}

// Join opens what a process needs to join the cgroup of the container spec.
func Join(spec *steps.Spec) (*Joiner, error) {
	cg, err := load(spec)
	if err != nil {
		return nil, err
	}
	j := &Joiner{}
	if cg.Version == 2 {
		dir := dirOf(cg, "")
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, err)
		}
		j.Dir = os.NewFile(uintptr(fd), dir)
		return j, nil
	}
	for _, dir := range dirs(cg) {
		path := filepath.Join(dir, "tasks")
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			j.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		j.Tasks = append(j.Tasks, os.NewFile(uintptr(fd), path))
	}
	return j, nil
}

// Close closes the files.
func (j *Joiner) Close() {
	if j.Dir != nil {
		j.Dir.Close()
	}
	for _, f := range j.Tasks {
		f.Close()
	}
}
