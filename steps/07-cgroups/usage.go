package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/steps"
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

func load(spec *steps.Spec) (driver, error) {
	r, err := loadRecord(recordPath(spec))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCgroup
	}
	if err != nil {
		return nil, err
	}
	return r.driver(), nil
}

// ReadUsage reads what the cgroup of the container spec uses.
func ReadUsage(spec *steps.Spec) (Usage, error) {
	d, err := load(spec)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	u.CPU, u.HasCPU = d.cpuUsage()
	u.Memory, u.MemoryLimit, u.HasMemory = d.memoryUsage()
	u.Pids, u.HasPids = d.pidsCurrent()
	return u, nil
}

// Procs lists the processes in the cgroup of the container spec.
func Procs(spec *steps.Spec) ([]int, error) {
	d, err := load(spec)
	if err != nil {
		return nil, err
	}
	return readProcs(d.dirs()[0])
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
	d, err := load(spec)
	if err != nil {
		return nil, err
	}
	j := &Joiner{}
	if d.version() == 2 {
		dir := d.dirs()[0]
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, err)
		}
		j.Dir = os.NewFile(uintptr(fd), dir)
		return j, nil
	}
	for _, dir := range d.dirs() {
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
