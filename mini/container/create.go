package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Create records a new container of spec, held by this process, before any
// step runs: its name is then taken. A name is unique among all the
// containers under --root, running or not, until mini rm, as docker's.
// Two mini runs with the same --name at once must not both get it, so the
// check and the write happen under a lock, flock(2) on
// <root>/containers.lock; a container named by its id (no --name) needs no
// check, the id being 48 random bits.
func Create(spec *steps.Spec, detached bool) (*State, error) {
	me, err := steps.Self()
	if err != nil {
		return nil, fmt.Errorf("%w (mini reads /proc, and runs itself again as /proc/self/exe: mount /proc, see docs/troubleshooting.md)", err)
	}
	s := &State{
		ID: spec.ID, Name: spec.Name, Image: spec.Image, Args: spec.Args,
		Status: Created, Created: time.Now().UTC(), Holder: me, Detached: detached, Spec: spec,
	}
	if s.made, err = makeDir(spec.Root, s.ID); err != nil {
		return nil, err
	}
	if spec.Name != spec.ID {
		err = s.reserveName()
	} else {
		err = s.Save()
	}
	if err != nil {
		s.Discard()
		return nil, err
	}
	return s, nil
}

// reserveName saves the state if no other container has its name.
func (s *State) reserveName() error {
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
		if o.Name == s.Name && o.ID != s.ID {
			return fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", s.Name, o.ID)
		}
	}
	return s.Save()
}

// makeDir makes <root>/containers/<id>, and what is missing above it, mode
// 0711: from step 5 on the container's root, an unprivileged host uid, must
// pass through to its layers (step 8); nobody needs to list them. It
// returns the directories it made, for Discard to remove. Another mini may
// remove an empty <root>/containers it made between two of these mkdirs
// (its run failed): then it starts again.
func makeDir(root, id string) ([]string, error) {
	var made []string
	var err error
	for try := 0; try < 3; try++ {
		made = made[:0]
		for _, dir := range []string{root, filepath.Join(root, "containers"), Dir(root, id)} {
			err = os.Mkdir(dir, 0o711)
			if errors.Is(err, os.ErrExist) {
				err = nil
				continue
			}
			if err == nil {
				made = append(made, dir)
				err = os.Chmod(dir, 0o711) // whatever the umask
			}
			if err != nil {
				break
			}
		}
		if !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, unix.EROFS) {
		return nil, fmt.Errorf("--root %s is on a read-only filesystem: mini keeps each container's state and layers there; use a writable directory", root)
	}
	if err != nil {
		return nil, fmt.Errorf("--root %s: %w (use a directory mini can write)", root, err)
	}
	return made, nil
}

// lock takes the lock of the containers under root: flock(2) on the
// directory <root>/containers itself, released by unlock, or by the kernel
// if this process dies. (A lock file would have to stay there for good; the
// directory is never removed while it holds a container, and the caller's
// own is in it by now.)
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
