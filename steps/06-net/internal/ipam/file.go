package ipam

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Path is the lease file of a bridge: <root>/net/<bridge>.leases.
func Path(root, bridge string) string {
	return filepath.Join(root, "net", bridge+".leases")
}

// With runs change on the bridge's leases while holding the lock, and
// writes back what it returns. Many mini processes allocate at once: flock(2)
// on the <root>/net directory makes them take turns, and the kernel drops
// the lock when its holder exits, even by SIGKILL, so no lock is ever stale.
// The file is replaced by rename(2), so a mini killed half-way through a
// write leaves the old file or the new one, never half of one.
func With(root, bridge string, change func([]Lease) ([]Lease, error)) error {
	dir := filepath.Join(root, "net")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return steps.StateError(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close() // close(2) drops the lock
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("flock %s: %w", dir, err)
	}

	path := Path(root, bridge)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	leases, err := ParseLeases(string(data))
	if err != nil {
		return fmt.Errorf("lease file %s: %w (remove it when no container runs)", path, err)
	}
	leases, err = change(leases)
	if err != nil {
		return err
	}
	if len(leases) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(FormatLeases(leases)), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
