package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// Putting things in the store: blobs and unpacked layers are made in tmp/
// and renamed into place complete (Place), so blobs/ and layers/ hold only
// whole things. A pull or a load (mini/image/transfer) verifies what comes
// against the digests it was promised; mini commit and mini build have
// their layers made by bin/mini-image too (transfer.PutLayer: gzip is not
// linked in bin/mini, whose every start would pay for its tables) and
// make their images here (AddBuilt).

// Place renames tmp, complete and verified, to path in the store. If
// another mini put the same there first, its copy stays and tmp goes; placed
// says whether tmp is now at path.
func (s *Store) Place(tmp, path string) (placed bool, err error) {
	err = os.Rename(tmp, path)
	if err != nil && Has(path) {
		return false, RemoveAll(tmp)
	}
	if err != nil {
		RemoveAll(tmp)
		return false, fmt.Errorf("rename %s: %w", path, err)
	}
	return true, nil
}

// PutBlob puts a small blob (a manifest, a config) in the store under its
// sha256; path is where it now is, or "" if the store had it already.
func (s *Store) PutBlob(data []byte) (digest, path string, err error) {
	digest = Digest(data)
	if Has(s.BlobPath(digest)) {
		return digest, "", nil
	}
	tmp, err := s.TempPath("blob")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		os.Remove(tmp)
		return "", "", fmt.Errorf("write blob: %w", err)
	}
	placed, err := s.Place(tmp, s.BlobPath(digest))
	if err != nil || !placed {
		return digest, "", err
	}
	return digest, s.BlobPath(digest), nil
}

// Digest is the sha256 digest of data: "sha256:<hex>".
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// MakeLayerDir makes in tmp/ the directory a layer is unpacked into: tmp,
// and in it diff, 0755 as docker makes a layer's root (the tar may give its
// "./" another mode).
func (s *Store) MakeLayerDir() (tmp, diff string, err error) {
	tmp, err = s.TempPath("layer")
	if err != nil {
		return "", "", err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", "", fmt.Errorf("mkdir %s: %w", tmp, err)
	}
	diff = filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		RemoveAll(tmp)
		return "", "", fmt.Errorf("mkdir %s: %w", diff, err)
	}
	return tmp, diff, nil
}

// PlaceLayer records the size of the layer's tar in tmp (MakeLayerDir's),
// and places it as the layer diffID.
func (s *Store) PlaceLayer(tmp, diffID string, size int64) (bool, error) {
	if err := os.WriteFile(filepath.Join(tmp, "size"), []byte(strconv.FormatInt(size, 10)+"\n"), 0o600); err != nil {
		RemoveAll(tmp)
		return false, err
	}
	return s.Place(tmp, s.LayerRoot(diffID))
}

// NotArchive is the exit code of "mini-image unpack" (mini build's ADD)
// for a file that is not an archive it unpacks: ADD then copies it as it
// is.
const NotArchive = 3

// Layer is a layer mini made (transfer.PutLayer): its blob,
// gzip-compressed, and what it is uncompressed.
type Layer struct {
	Blob   Descriptor
	DiffID string
	Size   int64 // the uncompressed tar, in bytes
	// Added are the paths PutLayer placed (the blob, the layer), for
	// Discard if the image it was for is not made after all.
	Added []string
}

// Built is an image mini makes: mini commit, and each step of mini build.
type Built struct {
	// Base is the image it is made on, nil for none (FROM scratch): its
	// layers come first.
	Base *Image
	// Layers are the new layers on top, bottom first: none for a step that
	// changes only the config (ENV, CMD ...).
	Layers []*Layer
	// Config is the new config. Its layers (RootFS) are filled in here;
	// its History is the caller's: one entry per layer, and one marked
	// EmptyLayer per step without one.
	Config *Config
	Parent string      // the manifest digest of the image it was made from (Record.Parent)
	Names  []Reference // the names it gets, if any
}

// AddBuilt writes the image's config and manifest (OCI media types) into
// the store and records it. The base's layers keep their blobs and
// digests; a docker media type becomes the OCI one for the same bytes.
func (s *Store) AddBuilt(b Built) (*Image, error) {
	c := b.Config
	m := Manifest{SchemaVersion: 2, MediaType: MediaOCIManifest}
	c.RootFS.Type, c.RootFS.DiffIDs = "layers", []string{}
	var size int64
	if b.Base != nil {
		for _, l := range b.Base.Manifest.Layers {
			m.Layers = append(m.Layers, Descriptor{MediaType: ociLayerType(l.MediaType), Digest: l.Digest, Size: l.Size})
		}
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, b.Base.Config.RootFS.DiffIDs...)
		size = b.Base.Size
	}
	var added []string
	for _, l := range b.Layers {
		m.Layers = append(m.Layers, l.Blob)
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, l.DiffID)
		size += l.Size
		added = append(added, l.Added...)
	}
	if len(m.Layers) == 0 {
		m.Layers = []Descriptor{} // "layers": [] and not null, as the spec's schema wants
	}
	if c.Architecture == "" {
		c.Architecture, c.OS = runtime.GOARCH, "linux"
	}
	config, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	cd, path, err := s.PutBlob(config)
	if path != "" {
		added = append(added, path)
	}
	if err != nil {
		s.Discard(added)
		return nil, err
	}
	m.Config = Descriptor{MediaType: MediaOCIConfig, Digest: cd, Size: int64(len(config))}
	manifest, err := json.Marshal(m)
	if err != nil {
		s.Discard(added)
		return nil, err
	}
	md, path, err := s.PutBlob(manifest)
	if path != "" {
		added = append(added, path)
	}
	if err == nil {
		err = s.Add(md, Record{Config: cd, Size: size, Added: time.Now().UTC(), Parent: b.Parent}, b.Names)
	}
	if err != nil {
		s.Discard(added)
		return nil, err
	}
	img, err := s.Resolve(md)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("image %s went missing as it was added (another mini removed it): run the command again", Short(cd))
	}
	return img, err
}

// ociLayerType is the OCI media type of a layer blob: docker's schema 2
// names the same bytes otherwise.
func ociLayerType(mt string) string {
	switch Compression(mt) {
	case "none":
		return MediaOCILayer
	case "gzip":
		return MediaOCILayerGzip
	}
	return mt
}
