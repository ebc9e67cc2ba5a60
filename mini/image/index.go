package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The index, images.json: which images the store has and their names, and
// what changes it (Add, Tag, Remove) and reads it (Resolve, Images).

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
	// Parent is the manifest digest of the image this one was made from by
	// mini build or mini commit ("" for one pulled or loaded, or built
	// FROM scratch), as docker records an image's parent: build's cache
	// looks for a step's result among the children of the step before, and
	// mini images hides the unnamed images that have children (the steps
	// of a build).
	Parent string `json:"parent,omitempty"`
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
	Parent   string // Record.Parent
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
	img := &Image{Digest: digest, ID: m.Config.Digest, Manifest: m, Config: c, Size: rec.Size, Added: rec.Added, Parent: rec.Parent}
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

// Children lists the images made from the image whose manifest digest is
// parent (Record.Parent): where mini build's cache looks.
func (s *Store) Children(parent string) ([]*Image, error) {
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for d, rec := range ix.Images {
		if rec.Parent != parent {
			continue
		}
		img, err := s.load(ix, d)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
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
// ids to the containers that use them): then nothing is removed. An image
// that others were built on (Record.Parent) stays when its last name goes,
// and is refused by id; one removed takes along its parents that have no
// name and no other child: the steps of its build.
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
	what := arg
	if byName != "" {
		what = familiar(byName)
	}
	if left == 0 {
		if c := users[rec.Config]; len(c) > 0 {
			return nil, fmt.Errorf("conflict: unable to remove %s: container %s uses image %s (remove the container first)", what, c[0], Short(rec.Config))
		}
		if ix.children(digest) > 0 {
			if byName == "" {
				return nil, fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image has dependent child images (docker's words: remove the images built on it first)", Short(rec.Config))
			}
			left = -1 // untagged, and kept for the images built on it
		}
	}
	var lines []string
	for _, n := range untag {
		delete(ix.Names, n)
		lines = append(lines, "Untagged: "+familiar(n))
	}
	if left == 0 {
		lines = append(lines, ix.delete(digest, users)...)
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

// children counts the images made from the image digest.
func (ix *index) children(digest string) int {
	n := 0
	for _, r := range ix.Images {
		if r.Parent == digest {
			n++
		}
	}
	return n
}

// delete removes the image digest from the index, then its parent if that
// has no name, no other child and no container, and so on up: docker rmi
// of a built image removes its build's steps with it. It returns the
// "Deleted: ID" lines.
func (ix *index) delete(digest string, users map[string][]string) []string {
	var lines []string
	for digest != "" {
		rec := ix.Images[digest]
		delete(ix.Images, digest)
		lines = append(lines, "Deleted: "+rec.Config)
		parent := ix.Images[rec.Parent]
		if parent == nil || ix.named(rec.Parent) || ix.children(rec.Parent) > 0 || len(users[parent.Config]) > 0 {
			break
		}
		digest = rec.Parent
	}
	return lines
}

// named says whether the image digest has a name.
func (ix *index) named(digest string) bool {
	for _, d := range ix.Names {
		if d == digest {
			return true
		}
	}
	return false
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
