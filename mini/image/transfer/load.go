package transfer

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"mini/mini/image"
)

// Two archive formats carry images, and mini reads both:
//
//   - docker save's (docker-archive): manifest.json lists each image's
//     config file, its names (RepoTags) and its layer tars, bottom first;
//   - an OCI image layout in a tar (oci-archive, image-spec/image-layout.md):
//     oci-layout, index.json pointing at manifests, and every blob under
//     blobs/sha256/<hex>.
//
// docker save writes both at once since docker 25, and so does mini save.
// The archive is as hostile as any layer: its paths are only looked up
// among its own entries, never used on disk, and every document is size
// limited and verified against its digest before it is believed.

// maxDoc is the largest JSON document of an archive mini reads: the
// distribution spec lets registries refuse manifests over 4 MiB.
const maxDoc = 4 << 20

// LoadOptions are mini load's flags.
type LoadOptions struct {
	Quiet bool      // -q: print nothing but errors
	Out   io.Writer // "Loaded image: ..." lines
}

// Load reads an archive from r and puts its images in the store.
func Load(s *image.Store, r io.Reader, opt LoadOptions) error {
	s.Sweep()
	a, cleanup, err := openArchive(s, r)
	if err != nil {
		return err
	}
	defer cleanup()
	var images []loaded
	switch {
	case a.has("oci-layout") && a.has("index.json"):
		images, err = a.ociImages()
	case a.has("manifest.json"):
		images, err = a.dockerImages()
	default:
		err = errors.New("not an image archive: it has neither manifest.json (docker save) nor oci-layout and index.json (an OCI image layout)")
	}
	if err != nil {
		return err
	}
	if len(images) == 0 {
		return errors.New("the archive holds no image")
	}
	warn := func(f string, args ...any) {
		if !opt.Quiet {
			fmt.Fprintf(opt.Out, "mini: warning: "+f+"\n", args...)
		}
	}
	for _, img := range images {
		in := &ingest{store: s, warn: warn}
		if err := a.load(in, img); err != nil {
			in.rollback()
			return err
		}
		if opt.Quiet {
			continue
		}
		for _, n := range img.names {
			fmt.Fprintf(opt.Out, "Loaded image: %s\n", n.Familiar())
		}
		if len(img.names) == 0 {
			fmt.Fprintf(opt.Out, "Loaded image ID: %s\n", img.configDigest)
		}
	}
	return nil
}

// loaded is one image of an archive, before it is in the store.
type loaded struct {
	names        []image.Reference
	manifest     []byte // an OCI layout's own; made for a docker archive
	configDigest string
	config       []byte
	layers       []string // a docker archive's layer paths, bottom first
}

// archive is a tar of images, indexed: every regular file and symbolic
// link by its clean name, with where its content starts.
type archive struct {
	f       *os.File
	entries map[string]archiveEntry
}

type archiveEntry struct {
	offset, size int64
	link         string // a symbolic link's target
}

// openArchive makes r an indexed archive. A tar must be read at random
// (manifest.json may come last), so a stream (stdin) or a compressed tar
// is first copied, decompressed, into the store's tmp/.
func openArchive(s *image.Store, r io.Reader) (*archive, func(), error) {
	cleanup := func() {}
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	compressed := compressionOf(magic) != "none"
	f, isFile := r.(*os.File)
	if isFile {
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			isFile = false
		}
	}
	if !isFile || compressed {
		tmp, err := s.TempPath("archive")
		if err != nil {
			return nil, nil, err
		}
		out, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { out.Close(); os.Remove(tmp) }
		src, closeSrc, err := decompress(br)
		if err == nil {
			_, err = io.Copy(out, src)
			closeSrc()
		}
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("read the archive: %w", err)
		}
		f = out
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	a := &archive{f: f, entries: map[string]archiveEntry{}}
	if err := a.index(); err != nil {
		cleanup()
		return nil, nil, err
	}
	return a, cleanup, nil
}

// index lists the archive's entries. Names that are absolute or climb with
// ".." are skipped: nothing of the archive is written where it says, but
// no document may name them either.
func (a *archive) index() error {
	if _, err := a.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	pos := &offsetReader{f: a.f}
	tr := tar.NewReader(pos)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not an image archive: read it as a tar: %w", err)
		}
		name, ok := archiveName(hdr.Name)
		if !ok {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			a.entries[name] = archiveEntry{offset: pos.n, size: hdr.Size}
		case tar.TypeSymlink:
			a.entries[name] = archiveEntry{link: hdr.Linkname}
		}
	}
	if len(a.entries) == 0 {
		return errors.New("not an image archive: no file in it")
	}
	return nil
}

// archiveName cleans an entry's name; false for one that would climb out.
func archiveName(name string) (string, bool) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" || strings.Contains(name, "\x00") {
		return "", false
	}
	for _, c := range strings.Split(path.Clean(strings.TrimPrefix(name, "/")), "/") {
		if c == ".." {
			return "", false
		}
	}
	return name, true
}

// offsetReader counts where archive/tar is in the file; it seeks over file
// contents rather than reading them.
type offsetReader struct {
	f *os.File
	n int64
}

func (o *offsetReader) Read(p []byte) (int, error) {
	n, err := o.f.Read(p)
	o.n += int64(n)
	return n, err
}

func (o *offsetReader) Seek(off int64, whence int) (int64, error) {
	n, err := o.f.Seek(off, whence)
	if err == nil {
		o.n = n
	}
	return n, err
}

// find follows symbolic links inside the archive (docker save made them for
// a layer two images share) to a file's entry.
func (a *archive) find(name string) (archiveEntry, error) {
	orig := name
	for hops := 0; hops < 8; hops++ {
		clean, ok := archiveName(name)
		e, found := a.entries[clean]
		if !ok || !found {
			return e, fmt.Errorf("the archive has no file %q", short(orig))
		}
		if e.link == "" {
			return e, nil
		}
		if strings.HasPrefix(e.link, "/") {
			name = e.link
		} else {
			name = path.Join(path.Dir(clean), e.link)
		}
	}
	return archiveEntry{}, fmt.Errorf("the archive's %q is a loop of links", short(orig))
}

func (a *archive) has(name string) bool {
	_, err := a.find(name)
	return err == nil
}

// open returns a reader of one file of the archive.
func (a *archive) open(name string) (io.Reader, int64, error) {
	e, err := a.find(name)
	if err != nil {
		return nil, 0, err
	}
	return io.NewSectionReader(a.f, e.offset, e.size), e.size, nil
}

// doc reads a JSON document of the archive, refusing one too big.
func (a *archive) doc(name string) ([]byte, error) {
	r, size, err := a.open(name)
	if err != nil {
		return nil, err
	}
	if size > maxDoc {
		return nil, fmt.Errorf("the archive's %s is %d bytes, more than the %d a document may be: refused", short(name), size, maxDoc)
	}
	return io.ReadAll(r)
}

// blob reads a small blob of an OCI layout, verified.
func (a *archive) blob(digest string) ([]byte, error) {
	data, err := a.doc("blobs/sha256/" + image.Hex(digest))
	if err != nil {
		return nil, err
	}
	if got := digestOf(data); got != digest {
		return nil, fmt.Errorf("blob %s: its content hashes to %s: refused", image.Short(digest), image.Short(got))
	}
	return data, nil
}

// ociImages reads an OCI layout's index.json: each manifest it lists, or
// this platform's of each index it lists, with the names its annotations
// give.
func (a *archive) ociImages() ([]loaded, error) {
	data, err := a.doc("index.json")
	if err != nil {
		return nil, err
	}
	ix, err := image.ParseIndex(data)
	if err != nil {
		return nil, err
	}
	byDigest := map[string]*loaded{}
	var order []string
	for _, d := range ix.Manifests {
		desc := d
		if image.IsIndex(d.MediaType) {
			data, err := a.blob(d.Digest)
			if err != nil {
				return nil, err
			}
			inner, err := image.ParseIndex(data)
			if err != nil {
				return nil, err
			}
			if desc, err = image.ChoosePlatform(inner, runtime.GOARCH); err != nil {
				return nil, err
			}
		} else if d.MediaType != "" && !image.IsManifest(d.MediaType) {
			continue // not an image (a signature, an attestation)
		}
		l := byDigest[desc.Digest]
		if l == nil {
			manifest, err := a.blob(desc.Digest)
			if err != nil {
				return nil, err
			}
			m, err := image.ParseManifest(manifest)
			if err != nil {
				return nil, err
			}
			l = &loaded{manifest: manifest, configDigest: m.Config.Digest}
			byDigest[desc.Digest] = l
			order = append(order, desc.Digest)
		}
		if n, ok := annotatedName(d.Annotations); ok {
			l.names = append(l.names, n)
		}
	}
	var out []loaded
	for _, d := range order {
		out = append(out, *byDigest[d])
	}
	return out, nil
}

// annotatedName is the image name an index entry carries: containerd's
// full name, or the OCI ref.name when it is a name and not a bare tag.
func annotatedName(ann map[string]string) (image.Reference, bool) {
	for _, key := range []string{image.AnnotationImageName, image.AnnotationRefName} {
		v := ann[key]
		if v == "" || !strings.ContainsAny(v, ":/") {
			continue
		}
		if r, err := image.ParseReference(v); err == nil {
			return r, true
		}
	}
	return image.Reference{}, false
}

// dockerImages reads docker save's manifest.json.
func (a *archive) dockerImages() ([]loaded, error) {
	data, err := a.doc("manifest.json")
	if err != nil {
		return nil, err
	}
	var list []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []loaded
	for _, m := range list {
		config, err := a.doc(m.Config)
		if err != nil {
			return nil, err
		}
		l := loaded{config: config, configDigest: digestOf(config), layers: m.Layers}
		for _, t := range m.RepoTags {
			r, err := image.ParseReference(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			l.names = append(l.names, r)
		}
		out = append(out, l)
	}
	return out, nil
}

// load puts one image in the store: its layers, then its config and
// manifest, then its names.
func (a *archive) load(in *ingest, img loaded) error {
	if img.manifest == nil {
		return a.loadDocker(in, img)
	}
	m, err := image.ParseManifest(img.manifest)
	if err != nil {
		return err
	}
	config, err := a.blob(m.Config.Digest)
	if err != nil {
		return err
	}
	c, err := image.ParseConfig(config, m)
	if err != nil {
		return err
	}
	if err := in.putBytes(m.Config.Digest, config); err != nil {
		return err
	}
	var size int64
	for i, l := range m.Layers {
		r, _, err := a.open("blobs/sha256/" + image.Hex(l.Digest))
		if err != nil {
			return err
		}
		res, err := in.layer(r, l.Digest, c.RootFS.DiffIDs[i], nil)
		if err != nil {
			return err
		}
		size += res.Size
	}
	return add(in, img.manifest, m.Config.Digest, size, img.names)
}

// loadDocker loads an image of a docker archive. Its layers have no digest
// but their diff id: each is hashed as it is read, and an OCI manifest is
// written for the image, as docker load makes one.
func (a *archive) loadDocker(in *ingest, img loaded) error {
	var c image.Config
	if err := json.Unmarshal(img.config, &c); err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	if len(c.RootFS.DiffIDs) != len(img.layers) {
		return fmt.Errorf("image config: %d diff ids for %d layers", len(c.RootFS.DiffIDs), len(img.layers))
	}
	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaOCIManifest,
		Config: image.Descriptor{MediaType: image.MediaOCIConfig, Digest: img.configDigest, Size: int64(len(img.config))}}
	var size int64
	for i, p := range img.layers {
		r, n, err := a.open(p)
		if err != nil {
			return err
		}
		var kind string
		r = sniff(r, &kind)
		res, err := in.layer(r, "", c.RootFS.DiffIDs[i], nil)
		if err != nil {
			return err
		}
		m.Layers = append(m.Layers, image.Descriptor{MediaType: layerMediaType[kind], Digest: res.Digest, Size: n})
		size += res.Size
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := image.ParseConfig(img.config, &m); err != nil {
		return err
	}
	if err := in.putBytes(img.configDigest, img.config); err != nil {
		return err
	}
	return add(in, manifest, img.configDigest, size, img.names)
}

// add puts the manifest in the store and names the image.
func add(in *ingest, manifest []byte, config string, size int64, names []image.Reference) error {
	digest := digestOf(manifest)
	if err := in.putBytes(digest, manifest); err != nil {
		return err
	}
	return in.store.Add(digest, image.Record{Config: config, Size: size, Added: time.Now().UTC()}, names)
}

// layerMediaType is the OCI media type of a layer compressed so.
var layerMediaType = map[string]string{
	"none": image.MediaOCILayer,
	"gzip": image.MediaOCILayerGzip,
	"zstd": image.MediaOCILayerZstd,
}

// sniff returns r unchanged but for kind, set to how it is compressed.
func sniff(r io.Reader, kind *string) io.Reader {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	*kind = compressionOf(magic)
	return br
}

// short keeps a name from an archive printable on one line.
func short(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-20:]
	}
	return s
}
