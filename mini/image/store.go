// Package image is mini's image store: image names, the OCI documents an
// image is made of, and where they are kept on disk. See docs/images.md.
//
// It reads and changes the store; it does not fetch, unpack or pack
// anything. Those need a registry client and archive code, which live in
// mini/image/transfer and run in bin/mini-image, so that mini run, which
// only looks images up, starts without them.
package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Store is the image store under a data root:
//
//	<root>/blobs/sha256/<hex>  manifests, configs and layers, as they came
//	<root>/layers/<hex>/diff/  each layer unpacked, named by its diff id
//	<root>/layers/<hex>/size   the size of its uncompressed tar, in bytes
//	<root>/images.json         the index (index.go): image names -> manifest digests
//	<root>/tmp/                what is being written, renamed into place once complete
//	<root>/lock                flock(2): one change of the index at a time
//
// Everything is 0700 and root's (or the rootless user's): a layer may hold
// setuid programs and devices, which no other user may reach.
type Store struct {
	Root string
}

// DefaultRoot is where images are kept: $MINI_DATA_ROOT, else
// /var/lib/mini for root, else $XDG_DATA_HOME/mini (~/.local/share/mini).
// Not under --root (/run/mini, a tmpfs): images must survive a reboot, and
// docker splits them the same way (--data-root /var/lib/docker, --exec-root
// /var/run/docker).
func DefaultRoot() string {
	if v := os.Getenv("MINI_DATA_ROOT"); v != "" {
		return v
	}
	if os.Geteuid() == 0 {
		return "/var/lib/mini"
	}
	if v := os.Getenv("XDG_DATA_HOME"); v != "" {
		return filepath.Join(v, "mini")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "mini")
}

// ErrNotFound is returned for an image the store does not have.
var ErrNotFound = errors.New("no such image")

// Open opens the store at root. With create it makes what is missing;
// without, a store not made yet is an empty one. Either way a root that
// another user owns or may write is refused: whoever can write there can
// give mini's containers their files.
func Open(root string, create bool) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("--data-root %s: %w", root, err)
	}
	s := &Store{Root: abs}
	var st unix.Stat_t
	err = unix.Stat(abs, &st)
	if errors.Is(err, unix.ENOENT) && create {
		err = s.make()
		if err == nil {
			err = unix.Stat(abs, &st)
		}
	}
	if errors.Is(err, unix.ENOENT) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--data-root %s: %w", abs, err)
	}
	if err := checkRoot(abs, &st); err != nil {
		return nil, err
	}
	if create {
		for _, d := range []string{"blobs/sha256", "layers", "tmp"} {
			if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
				return nil, fmt.Errorf("--data-root %s: %w", abs, err)
			}
		}
	}
	return s, nil
}

// make makes the data root, 0700; its parents, if missing, 0755.
func (s *Store) make() error {
	if err := os.MkdirAll(filepath.Dir(s.Root), 0o755); err != nil {
		return fmt.Errorf("--data-root %s: %w", s.Root, err)
	}
	if err := os.Mkdir(s.Root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("--data-root %s: %w (use a directory mini can write)", s.Root, err)
	}
	return nil
}

// checkRoot refuses a data root that is not the caller's or that group or
// others may write (st is its stat(2)).
func checkRoot(root string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("--data-root %s is not a directory", root)
	}
	if me := os.Geteuid(); int(st.Uid) != me {
		return fmt.Errorf("--data-root %s belongs to uid %d, not to you (uid %d): mini trusts what is there, so it must be yours: use another directory", root, st.Uid, me)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("--data-root %s may be written by group or others (mode %#o): anyone could plant an image there: chmod go-w %s", root, st.Mode&0o7777, root)
	}
	return nil
}

// BlobPath is where the blob with this digest is kept.
func (s *Store) BlobPath(digest string) string {
	return filepath.Join(s.Root, "blobs", "sha256", Hex(digest))
}

// LayerRoot is where the layer whose diff id this is is kept: its files
// and its size. It is renamed into place complete.
func (s *Store) LayerRoot(diffID string) string {
	return filepath.Join(s.Root, "layers", Hex(diffID))
}

// LayerDir is the layer's files: the layer unpacked, which overlayfs
// stacks as a lower layer (docker's overlay2 keeps it in <id>/diff too).
func (s *Store) LayerDir(diffID string) string {
	return filepath.Join(s.LayerRoot(diffID), "diff")
}

// LayerSize is the size of the layer's uncompressed tar.
func (s *Store) LayerSize(diffID string) (int64, error) {
	data, err := os.ReadFile(filepath.Join(s.LayerRoot(diffID), "size"))
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", Short(diffID), err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// Has says whether path (a blob or a layer directory) is in the store: it
// is renamed into place only once complete and verified.
func Has(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// ReadBlob reads a small blob, a manifest or a config. Blobs were verified
// against their digest on the way in, and the store is its owner's alone.
func (s *Store) ReadBlob(digest string) ([]byte, error) {
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.BlobPath(digest))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", Short(digest), err)
	}
	return data, nil
}

// TempPath is a fresh name in the store's tmp/ directory, on the store's
// filesystem so that rename(2) can move what is made there into place.
// The name starts with this process's pid and start time, so that Sweep can
// tell what a mini killed half-way left.
func (s *Store) TempPath(what string) (string, error) {
	me, err := steps.Self()
	if err != nil {
		return "", err
	}
	b := make([]byte, 4)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return "", fmt.Errorf("getrandom: %w", err)
	}
	return filepath.Join(s.Root, "tmp", fmt.Sprintf("%d.%d.%s.%x", me.PID, me.Start, what, b)), nil
}

// Sweep removes from tmp/ what minis that are gone left there: a pull or a
// load killed half-way. Complete blobs and layers are in place already, so
// the next pull fetches only what is missing.
func (s *Store) Sweep() {
	entries, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	for _, e := range entries {
		f := strings.SplitN(e.Name(), ".", 3)
		if len(f) < 3 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		start, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil || (steps.Owner{PID: pid, Start: start}).Alive() {
			continue
		}
		RemoveAll(filepath.Join(s.Root, "tmp", e.Name()))
	}
}

// RemoveAll is os.RemoveAll that also empties the read-only directories a
// layer may have when mini runs without root (root may write anyway).
func RemoveAll(path string) error {
	err := os.RemoveAll(path)
	if err == nil || os.Geteuid() == 0 {
		return err
	}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}
