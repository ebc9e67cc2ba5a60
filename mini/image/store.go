// Package image is mini's image store: image names, the OCI documents an
// image is made of, and where they are kept on disk. See docs/images.md.
//
// It reads and changes the store; it does not fetch, unpack or pack
// anything. Those need a registry client and archive code, which live in
// mini/image/transfer and run in bin/mini-image, so that mini run, which
// only looks images up, starts without them.
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Store is the image store under a data root:
//
//	<root>/blobs/sha256/<hex>  manifests, configs and layers, as they came
//	<root>/layers/<hex>/diff/  each layer unpacked, named by its diff id
//	<root>/layers/<hex>/size   the size of its uncompressed tar, in bytes
//	<root>/images.json         the index: image names -> manifest digests
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

// index is images.json.
type index struct {
	// Images by manifest digest. An image stays when its last name goes to
	// another image (a newer pull of the same tag), as docker keeps a
	// dangling image, until mini rmi removes it by id.
	Images map[string]*Record `json:"images"`
	// Names: full references ("docker.io/library/busybox:latest") to
	// manifest digests.
	Names map[string]string `json:"names"`
}

// Record is what the index keeps of an image.
type Record struct {
	Config string    `json:"config"` // the config's digest: docker's image id
	Size   int64     `json:"size"`   // the layers' uncompressed tars, in bytes
	Added  time.Time `json:"added"`
}

func (s *Store) indexPath() string { return filepath.Join(s.Root, "images.json") }

// readIndex reads images.json; a store without one is empty. It is
// replaced by rename(2), so a reader sees the old one or the new one.
func (s *Store) readIndex() (*index, error) {
	ix := &index{Images: map[string]*Record{}, Names: map[string]string{}}
	data, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err == nil {
		err = json.Unmarshal(data, ix)
	}
	if err != nil {
		return nil, fmt.Errorf("image index %s: %w", s.indexPath(), err)
	}
	if ix.Images == nil {
		ix.Images = map[string]*Record{}
	}
	if ix.Names == nil {
		ix.Names = map[string]string{}
	}
	return ix, nil
}

// writeIndex replaces images.json: written beside, then renamed over it.
// The caller holds the lock.
func (s *Store) writeIndex(ix *index) error {
	data, err := json.MarshalIndent(ix, "", "\t")
	if err != nil {
		return err
	}
	tmp, err := s.TempPath("index")
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image index: %w", err)
	}
	if err := os.Rename(tmp, s.indexPath()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}

// Lock takes the store's lock, exclusive or shared, with flock(2): changes
// of the index and removals take it exclusive; a run that looks an image
// up and records that its container uses it takes it shared, so that no
// rmi removes the image in between. It returns the unlock.
func (s *Store) Lock(exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// Image is one image of the store, resolved.
type Image struct {
	Digest   string      // the manifest's digest
	ID       string      // the config's digest: the IMAGE ID docker shows
	Names    []Reference // its names, sorted
	Manifest *Manifest
	Config   *Config
	Size     int64
	Added    time.Time
}

// LayerDirs are the image's layer directories, topmost first: the order of
// overlayfs's lowerdir= and of steps.Spec.Layers.
func (s *Store) LayerDirs(img *Image) []string {
	ids := img.Config.RootFS.DiffIDs
	dirs := make([]string, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		dirs = append(dirs, s.LayerDir(ids[i]))
	}
	return dirs
}

// load reads the image with this manifest digest.
func (s *Store) load(ix *index, digest string) (*Image, error) {
	rec := ix.Images[digest]
	if rec == nil {
		return nil, ErrNotFound
	}
	data, err := s.ReadBlob(digest)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, err
	}
	if data, err = s.ReadBlob(m.Config.Digest); err != nil {
		return nil, err
	}
	c, err := ParseConfig(data, m)
	if err != nil {
		return nil, err
	}
	img := &Image{Digest: digest, ID: m.Config.Digest, Manifest: m, Config: c, Size: rec.Size, Added: rec.Added}
	for name, d := range ix.Names {
		if d == digest {
			if r, err := ParseReference(name); err == nil {
				img.Names = append(img.Names, r)
			}
		}
	}
	sort.Slice(img.Names, func(i, j int) bool { return img.Names[i].String() < img.Names[j].String() })
	return img, nil
}

// Resolve finds an image by name ("busybox", "localhost:5000/x:1",
// "busybox@sha256:..."), or by its id or a unique prefix of it, as docker
// does.
func (s *Store) Resolve(arg string) (*Image, error) {
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	digest, err := ix.find(arg)
	if err != nil {
		return nil, err
	}
	return s.load(ix, digest)
}

// find returns the manifest digest arg names.
func (ix *index) find(arg string) (string, error) {
	if _, ok := ix.Images[arg]; ok {
		return arg, nil // a manifest's digest
	}
	if ref, err := ParseReference(arg); err == nil {
		if d, ok := ix.Names[ref.String()]; ok {
			return d, nil
		}
		// A digest names its manifest, whatever name came with it.
		if ref.Digest != "" {
			if _, ok := ix.Images[ref.Digest]; ok {
				return ref.Digest, nil
			}
		}
	}
	// An image id, or a prefix of one: "sha256:6fd9...", "6fd9".
	prefix := strings.TrimPrefix(arg, "sha256:")
	if prefix == "" || strings.Trim(prefix, "0123456789abcdef") != "" {
		return "", ErrNotFound
	}
	var found []string
	for d, rec := range ix.Images {
		if strings.HasPrefix(Hex(rec.Config), prefix) {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0:
		return "", ErrNotFound
	case len(found) > 1 && !sameConfig(ix, found):
		return "", fmt.Errorf("image id prefix %s names %d images: give more of it", prefix, len(found))
	}
	sort.Strings(found)
	return found[0], nil
}

// sameConfig: manifests that differ only in how their layers are
// compressed are one image by docker's id.
func sameConfig(ix *index, digests []string) bool {
	for _, d := range digests {
		if ix.Images[d].Config != ix.Images[digests[0]].Config {
			return false
		}
	}
	return true
}

// Images lists every image, the newest first.
func (s *Store) Images() ([]*Image, error) {
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for d := range ix.Images {
		img, err := s.load(ix, d)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Added.Equal(out[j].Added) {
			return out[i].Added.After(out[j].Added)
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}

// Add records the image whose manifest is digest under names. Its blobs
// and layers must be in the store already: the index is written last, so
// that a pull or load killed half-way leaves no image half there.
func (s *Store) Add(digest string, rec Record, names []Reference) error {
	unlock, err := s.Lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	// A layer another mini removed meanwhile (rmi of an image that shared
	// it) is missing: say so, and the pull or load can run again.
	if err := s.complete(digest); err != nil {
		return err
	}
	if old := ix.Images[digest]; old != nil {
		rec.Added = old.Added
	}
	ix.Images[digest] = &rec
	for _, n := range names {
		ix.Names[n.String()] = digest
	}
	return s.writeIndex(ix)
}

// complete checks that every blob and layer of an image is in the store.
func (s *Store) complete(digest string) error {
	data, err := s.ReadBlob(digest)
	if err != nil {
		return err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return err
	}
	cdata, err := s.ReadBlob(m.Config.Digest)
	if err != nil {
		return err
	}
	c, err := ParseConfig(cdata, m)
	if err != nil {
		return err
	}
	for i, l := range m.Layers {
		if !Has(s.BlobPath(l.Digest)) || !Has(s.LayerRoot(c.RootFS.DiffIDs[i])) {
			return fmt.Errorf("layer %s went missing while the image was added (another mini removed an image that had it): run the command again", Short(l.Digest))
		}
	}
	return nil
}

// Tag gives the image src the name dst.
func (s *Store) Tag(src string, dst Reference) error {
	unlock, err := s.Lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	digest, err := ix.find(src)
	if err != nil {
		return err
	}
	ix.Names[dst.String()] = digest
	return s.writeIndex(ix)
}

// Remove removes a name of an image, as docker rmi does: "Untagged: NAME".
// An image left without names, or named by its id, goes too ("Deleted:
// ID"), with its manifest and config, and each layer (blob and directory)
// that no other image has; unless a container uses it (users maps image
// ids to the containers that use them): then nothing is removed.
func (s *Store) Remove(arg string, users map[string][]string) ([]string, error) {
	unlock, err := s.Lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	digest, err := ix.find(arg)
	if err != nil {
		return nil, err
	}
	rec := ix.Images[digest]
	var untag []string
	byName := ""
	if ref, err := ParseReference(arg); err == nil && ix.Names[ref.String()] == digest {
		byName = ref.String()
		untag = []string{byName}
	} else {
		for n, d := range ix.Names {
			if d == digest {
				untag = append(untag, n)
			}
		}
	}
	sort.Strings(untag)
	left := 0
	for n, d := range ix.Names {
		if d == digest && !contains(untag, n) {
			left++
		}
	}
	if left == 0 {
		if c := users[rec.Config]; len(c) > 0 {
			what := arg
			if byName != "" {
				what = familiar(byName)
			}
			return nil, fmt.Errorf("conflict: unable to remove %s: container %s uses image %s (remove the container first)", what, c[0], Short(rec.Config))
		}
	}
	var lines []string
	for _, n := range untag {
		delete(ix.Names, n)
		lines = append(lines, "Untagged: "+familiar(n))
	}
	if left == 0 {
		delete(ix.Images, digest)
		lines = append(lines, "Deleted: "+rec.Config)
	}
	if err := s.writeIndex(ix); err != nil {
		return nil, err
	}
	if left == 0 {
		if err := s.collect(ix); err != nil {
			return lines, err
		}
	}
	return lines, nil
}

// collect removes the blobs and layers no image of the index uses. The
// caller holds the lock.
func (s *Store) collect(ix *index) error {
	keep, err := s.kept(ix)
	if err != nil {
		return err
	}
	var paths []string
	for _, dir := range []string{filepath.Join(s.Root, "blobs", "sha256"), filepath.Join(s.Root, "layers")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	return s.removeUnkept(paths, keep)
}

// Discard removes what a pull or load that failed had put in place (paths:
// blobs and layer roots), unless an image uses it: a layer the failed image
// shares with one the store has stays.
func (s *Store) Discard(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	unlock, err := s.Lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	keep, err := s.kept(ix)
	if err != nil {
		return err
	}
	return s.removeUnkept(paths, keep)
}

// kept is the set of blob paths and layer roots the images of ix use.
func (s *Store) kept(ix *index) (map[string]bool, error) {
	keep := map[string]bool{}
	for d := range ix.Images {
		keep[s.BlobPath(d)] = true
		data, err := s.ReadBlob(d)
		if err != nil {
			return nil, err
		}
		m, err := ParseManifest(data)
		if err != nil {
			return nil, err
		}
		keep[s.BlobPath(m.Config.Digest)] = true
		for _, l := range m.Layers {
			keep[s.BlobPath(l.Digest)] = true
		}
		cdata, err := s.ReadBlob(m.Config.Digest)
		if err != nil {
			return nil, err
		}
		c, err := ParseConfig(cdata, m)
		if err != nil {
			return nil, err
		}
		for _, id := range c.RootFS.DiffIDs {
			keep[s.LayerRoot(id)] = true
		}
	}
	return keep, nil
}

// removeUnkept removes each path not in keep. A layer root is renamed into
// tmp/ first, so that a mini killed half-way through removing it leaves no
// half layer among the complete ones.
func (s *Store) removeUnkept(paths []string, keep map[string]bool) error {
	for _, p := range paths {
		if keep[p] || !Has(p) {
			continue
		}
		if filepath.Base(filepath.Dir(p)) != "layers" {
			if err := os.Remove(p); err != nil {
				return err
			}
			continue
		}
		tmp, err := s.TempPath("rm-layer")
		if err != nil {
			return err
		}
		if err := os.Rename(p, tmp); err != nil {
			return fmt.Errorf("remove layer %s: %w", Short(filepath.Base(p)), err)
		}
		if err := RemoveAll(tmp); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// familiar is a full reference as docker prints it.
func familiar(name string) string {
	if r, err := ParseReference(name); err == nil {
		return r.Familiar()
	}
	return name
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
