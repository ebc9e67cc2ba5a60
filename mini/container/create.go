package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Create makes the record of a new container of spec, held by this
// process. A container with a --name is written at once: its name is taken
// from then on. A name is unique among all the containers under --root,
// running or not, until mini rm, as docker's: two mini runs with the same
// --name at once must not both get it, so the check and the write happen
// under a lock (lock). A container named by its id (no --name) needs no
// check, the id being 48 random bits, and is written by Record later, when
// it costs the run nothing (Run).
func Create(spec *steps.Spec, detached bool) (*State, error) {
	me, err := steps.Self()
	if err != nil {
		return nil, fmt.Errorf("%w (mini reads /proc, and runs itself again as /proc/self/exe: mount /proc, see docs/troubleshooting.md)", err)
	}
	s := &State{
		ID: spec.ID, Name: spec.Name, Image: spec.Image, Args: spec.Args,
		Status: Created, Created: time.Now().UTC(), Holder: me, Detached: detached, Spec: spec,
	}
	// A name is taken, and a stored image in use, from now on: both are
	// read from the states of the other containers.
	if spec.Name != spec.ID || spec.ImageID != "" {
		if err := s.Record(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Record writes the state of a new container, if it is not written yet.
// The container's directory appears with its state already in it: the
// state is written in a directory named for this process (newDir), which
// rename(2) then makes <root>/containers/<id> in one step. A mini killed
// before leaves that directory, which names a process that is gone, and the
// next List removes it (sweep).
func (s *State) Record() error {
	if s.recorded {
		return nil
	}
	spec := s.Spec
	containers := filepath.Join(spec.Root, "containers")
	tmp := filepath.Join(containers, newDir(s.ID, s.Holder))
	var err error
	if s.made, err = makeDirs(spec, containers, tmp); err != nil {
		return err
	}
	err = s.write(filepath.Join(tmp, "state.json"))
	if err == nil && spec.Name != spec.ID {
		err = s.reserveName(tmp)
	} else if err == nil {
		err = rename(tmp, Dir(spec.Root, s.ID))
	}
	if err != nil {
		os.RemoveAll(tmp)
		s.Discard()
		return err
	}
	s.recorded = true
	return nil
}

// reserveName moves the new container's directory into place if no other
// container has its name.
func (s *State) reserveName(tmp string) error {
	unlock, err := lock(s.Spec.Root)
	if err != nil {
		return err
	}
	defer unlock()
	all, err := List(s.Spec.Root)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Name == s.Name {
			return fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", s.Name, o.ID)
		}
	}
	return rename(tmp, Dir(s.Spec.Root, s.ID))
}

// newPrefix starts the name of a container's directory while Create fills
// it: .new-<id>-<pid>-<start time> (a steps.Owner), so that one whose mini
// is gone can be told from one being made.
const newPrefix = ".new-"

func newDir(id string, o steps.Owner) string {
	return fmt.Sprintf("%s%s-%d-%d", newPrefix, id, o.PID, o.Start)
}

// sweep removes what a mini killed inside Create left: a directory named
// by newDir whose mini is gone.
func sweep(containers, name string) {
	f := strings.Split(strings.TrimPrefix(name, newPrefix), "-")
	if len(f) != 3 {
		return
	}
	pid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || (steps.Owner{PID: pid, Start: start}).Alive() {
		return
	}
	os.RemoveAll(filepath.Join(containers, name))
}

// makeDirs makes the directories that are missing: --root itself as the
// engine makes it (steps.MakeRoot: 0700, and refused if another user owns
// it or may write it), <root>/containers 0700, and the container's own
// directory 0711 (step 8's child passes through it to its layers). It
// returns those it made, for Discard to remove. Another mini may remove an
// empty directory it made between two of these mkdirs (its run failed):
// then it starts again.
func makeDirs(spec *steps.Spec, containers, dir string) ([]string, error) {
	if err := steps.MakeRoot(steps.NewContext(spec, "host", io.Discard), spec.Root); err != nil {
		return nil, err
	}
	var made []string
	var err error
	for try := 0; try < 3; try++ {
		made = made[:0]
		for _, d := range []struct {
			path string
			mode os.FileMode
		}{{containers, 0o700}, {dir, 0o711}} {
			err = steps.MkdirMode(d.path, d.mode)
			if errors.Is(err, os.ErrExist) {
				err = nil
				continue
			}
			if err != nil {
				break
			}
			made = append(made, d.path)
		}
		if !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, unix.EROFS) {
		return nil, fmt.Errorf("--root %s is on a read-only filesystem: mini keeps each container's state and layers there; use a writable directory", spec.Root)
	}
	if err != nil {
		return nil, steps.StateError(err)
	}
	return made, nil
}

func rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	return nil
}

// lock takes the lock of the containers under root: flock(2) on the
// directory <root>/containers itself, released by unlock, or by the kernel
// if this process dies. (A lock file would stay there for good.)
func lock(root string) (unlock func(), err error) {
	path := filepath.Join(root, "containers")
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() { unix.Close(fd) }, nil
}
