package transfer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"mini/mini/image"
)

// Save writes the images args name to w as one archive that is both an
// OCI image layout (oci-layout, index.json, blobs/sha256/...) and a docker
// save archive (manifest.json pointing at the same blobs), as docker save
// writes it since docker 25: docker load, podman load, skopeo's
// docker-archive: and oci-archive: all read it. The blobs are the store's
// as they are, so the manifests keep their digests; each is hashed again on
// the way out.
func Save(s *image.Store, args []string, w io.Writer) error {
	type entry struct {
		img  *image.Image
		name *image.Reference
	}
	var entries []entry
	for _, arg := range args {
		img, err := s.Resolve(arg)
		if errors.Is(err, image.ErrNotFound) {
			return fmt.Errorf("no such image: %s", arg)
		}
		if err != nil {
			return err
		}
		e := entry{img: img}
		if r, err := image.ParseReference(arg); err == nil && r.Digest == "" && hasName(img, r) {
			e.name = &r
		}
		entries = append(entries, e)
	}

	tw := tar.NewWriter(w)
	written := map[string]bool{}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
	}
	ix := image.Index{SchemaVersion: 2, MediaType: image.MediaOCIIndex}
	type dockerEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var docker []dockerEntry
	for _, e := range entries {
		m := e.img.Manifest
		blobs := append([]string{e.img.Digest, m.Config.Digest}, layerDigests(m)...)
		for _, d := range blobs {
			if written[d] {
				continue
			}
			written[d] = true
			if err := writeBlob(tw, s, d); err != nil {
				return err
			}
		}
		mt := m.MediaType
		if mt == "" {
			mt = image.MediaOCIManifest
		}
		size, _ := fileSize(s.BlobPath(e.img.Digest))
		desc := image.Descriptor{MediaType: mt, Digest: e.img.Digest, Size: size}
		de := dockerEntry{Config: blobName(m.Config.Digest), RepoTags: []string{}}
		for _, l := range m.Layers {
			de.Layers = append(de.Layers, blobName(l.Digest))
		}
		if e.name != nil {
			desc.Annotations = map[string]string{
				image.AnnotationImageName: e.name.String(),
				image.AnnotationRefName:   e.name.Tag,
			}
			de.RepoTags = []string{e.name.Familiar()}
		}
		ix.Manifests = append(ix.Manifests, desc)
		docker = append(docker, de)
	}
	for _, f := range []struct {
		name string
		v    any
	}{
		{"index.json", ix},
		{"manifest.json", docker},
		{"oci-layout", map[string]string{"imageLayoutVersion": "1.0.0"}},
	} {
		data, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := writeFile(tw, f.name, int64(len(data)), bytes.NewReader(data)); err != nil {
			return err
		}
	}
	return tw.Close()
}

// hasName says whether r is one of img's names (not a name resolved by
// id prefix).
func hasName(img *image.Image, r image.Reference) bool {
	for _, n := range img.Names {
		if n.String() == r.String() {
			return true
		}
	}
	return false
}

func layerDigests(m *image.Manifest) []string {
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func blobName(digest string) string { return "blobs/sha256/" + image.Hex(digest) }

// writeBlob copies a blob of the store into the archive, checking on the
// way that it still hashes to its digest.
func writeBlob(tw *tar.Writer, s *image.Store, digest string) error {
	f, err := os.Open(s.BlobPath(digest))
	if err != nil {
		return fmt.Errorf("blob %s: %w", image.Short(digest), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h := &hashReader{r: f, h: sha256.New()}
	if err := writeFile(tw, blobName(digest), fi.Size(), h); err != nil {
		return err
	}
	if h.digest() != digest {
		return fmt.Errorf("blob %s in the store hashes to %s: the store is damaged: mini rmi the image and pull it again", image.Short(digest), image.Short(h.digest()))
	}
	return nil
}

func writeFile(tw *tar.Writer, name string, size int64, r io.Reader) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func fileSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// SaveFile saves into path: written beside it, then renamed, so that a
// failed save leaves no half archive.
func SaveFile(s *image.Store, args []string, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("-o %s: %w", path, err)
	}
	err = Save(s, args, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
