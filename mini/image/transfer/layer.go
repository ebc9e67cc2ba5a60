package transfer

import (
	archivetar "archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/spf13/pflag"

	"mini/mini/image"
	overlay "mini/steps/08-overlay"
)

// Layers mini makes itself (mini commit, mini build) are compressed,
// unpacked and placed here, in bin/mini-image: bin/mini, which diffs the
// container's upper directory (overlay.Diff), writes the tar into
// "mini-image put-layer" and reads the layer back as JSON. gzip's tables,
// built at every start of a program that links compress/flate, stay out
// of bin/mini, which starts twice per container (docs/performance.md). ADD
// of an archive is unpacked here too ("mini-image unpack").

// PutLayer puts in the store the layer whose uncompressed tar r gives
// (overlay.Diff's: mini commit's, a step of mini build's), reading r once: the
// tar is hashed (the diff id), gzip-compressed into a blob while that is
// hashed too (the digest a registry names it by), and unpacked by
// overlay.ApplyLayer, as a pull unpacks a layer, into the directory a
// container of the image stacks. warn prints what ApplyLayer skips.
func PutLayer(s *image.Store, r io.Reader, warn func(string, ...any)) (*image.Layer, error) {
	blobTmp, err := s.TempPath("blob")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(blobTmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write blob: %w", err)
	}
	defer os.Remove(blobTmp) // once placed, it is not there any more
	defer f.Close()
	layerTmp, diff, err := s.MakeLayerDir()
	if err != nil {
		return nil, err
	}
	defer image.RemoveAll(layerTmp)

	blob := &hashWriter{w: f, h: sha256.New()}
	// Docker's default compression level trades size for speed the same
	// way: a layer is compressed once and read many times.
	gz, err := gzip.NewWriterLevel(blob, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tar := &hashWriter{w: gz, h: sha256.New()}
	err = overlay.ApplyLayer(io.TeeReader(r, tar), diff, overlay.ApplyOptions{Rootless: os.Geteuid() != 0, Warn: warn})
	if err == nil {
		err = gz.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("make a layer: %w", err)
	}
	l := &image.Layer{
		Blob:   image.Descriptor{MediaType: image.MediaOCILayerGzip, Digest: blob.digest(), Size: blob.n},
		DiffID: tar.digest(),
		Size:   tar.n,
	}
	placed, err := s.Place(blobTmp, s.BlobPath(l.Blob.Digest))
	if err != nil {
		return nil, err
	}
	if placed {
		l.Added = append(l.Added, s.BlobPath(l.Blob.Digest))
	}
	if image.Has(s.LayerRoot(l.DiffID)) {
		return l, nil // the same files as a layer the store has: one copy
	}
	if placed, err = s.PlaceLayer(layerTmp, l.DiffID, l.Size); err != nil {
		s.Discard(l.Added)
		return nil, err
	}
	if placed {
		l.Added = append(l.Added, s.LayerRoot(l.DiffID))
	}
	return l, nil
}

// hashWriter hashes and counts what is written through it.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashWriter) digest() string { return "sha256:" + hex.EncodeToString(h.h.Sum(nil)) }

// putLayerMain is the hidden command "mini-image put-layer": an
// uncompressed layer tar on stdin, the layer it made (image.Layer, JSON)
// on stdout.
func putLayerMain(args []string) error {
	_, root, err := flags("put-layer", "put-layer < TAR", args, func(*pflag.FlagSet) {})
	if err != nil {
		return err
	}
	s, err := image.Open(root, true)
	if err != nil {
		return err
	}
	l, err := PutLayer(s, os.Stdin, func(f string, a ...any) { fmt.Fprintf(os.Stderr, "mini: warning: "+f+"\n", a...) })
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(l)
}

// errNotArchive makes Main exit with NotArchive, silently.
var errNotArchive = errors.New("not an archive")

// unpackMain is the hidden command "mini-image unpack": an archive on
// stdin (a tar, plain or compressed with gzip, bzip2 or zstd, as docker's
// ADD takes them) unpacked by overlay.ApplyLayer into the directory open
// as fd 3 (a directory of mini build's mount, which no path reaches). A
// file that is not one is left alone: exit code NotArchive.
func unpackMain(args []string) error {
	if len(args) != 0 {
		return errors.New("unpack takes no argument: the archive on stdin, the directory as fd 3")
	}
	in := bufio.NewReader(os.Stdin)
	var tar io.Reader
	if magic, _ := in.Peek(3); string(magic) == "BZh" {
		tar = bzip2.NewReader(in)
	} else {
		t, closeTar, err := decompress(in)
		if err != nil {
			return errNotArchive
		}
		defer closeTar()
		tar = t
	}
	br := bufio.NewReaderSize(tar, 64<<10)
	if !isTar(br) {
		return errNotArchive
	}
	return overlay.ApplyLayer(br, "/proc/self/fd/3", overlay.ApplyOptions{Archive: true,
		Warn: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "mini: warning: "+f+"\n", a...) }})
}

// isTar says whether r starts with a tar header (its checksum right).
func isTar(r *bufio.Reader) bool {
	block, err := r.Peek(512)
	if err != nil {
		return false
	}
	_, err = archivetar.NewReader(bytes.NewReader(block)).Next()
	return err == nil || errors.Is(err, io.ErrUnexpectedEOF)
}
