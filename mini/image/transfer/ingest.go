// Package transfer brings images into the store and takes them out: pull
// from a registry, load and save archives. Each layer is verified and
// unpacked once, with step 8's overlay.ApplyLayer. It runs in bin/mini-image
// (Main), apart from bin/mini: see docs/images.md.
package transfer

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"

	"mini/mini/image"
	overlay "mini/steps/08-overlay"
)

// ingest is one pull or load putting blobs and layers in the store. What
// it has renamed into place is listed, so that a failure can take it back
// (Store.Discard): a hostile or broken image leaves nothing behind.
type ingest struct {
	store *image.Store
	added []string
	warn  func(format string, args ...any)
}

// putBytes puts a small blob (a manifest, a config) in the store, once its
// sha256 is the digest that names it.
func (in *ingest) putBytes(digest string, data []byte) error {
	if got := digestOf(data); got != digest {
		return fmt.Errorf("blob %s: its content hashes to %s: refused", image.Short(digest), image.Short(got))
	}
	_, path, err := in.store.PutBlob(data)
	if path != "" {
		in.added = append(in.added, path)
	}
	return err
}

// commit renames tmp, complete and verified, to its place in the store
// (Store.Place), and lists it if it is ours.
func (in *ingest) commit(tmp, path string) error {
	placed, err := in.store.Place(tmp, path)
	if placed {
		in.added = append(in.added, path)
	}
	return err
}

// rollback discards what this ingest put in place and no image uses.
func (in *ingest) rollback() {
	in.store.Discard(in.added)
	in.added = nil
}

// layerResult is what ingesting a layer found out.
type layerResult struct {
	Digest string // the blob's sha256, as read
	Size   int64  // the length of the uncompressed tar
}

// layer reads one layer's blob from r, as the registry or archive has it
// (gzip, zstd or plain tar, told by its first bytes), and puts in the store
// what is missing of it: the blob, and the layer unpacked in its own
// directory, named by its diff id. Both are made in tmp/ while r is read
// once: the blob is written and hashed as it comes, then decompressed,
// hashed again (the diff id is the uncompressed tar's hash) and unpacked by
// ApplyLayer. They are renamed into place only if both hashes are those the
// manifest (digest; "" for an archive that does not say) and the config
// (diffID) name. read is called with the count of bytes read so far.
func (in *ingest) layer(r io.Reader, digest, diffID string, read func(int64)) (layerResult, error) {
	var res layerResult
	needBlob := digest == "" || !image.Has(in.store.BlobPath(digest))
	needLayer := !image.Has(in.store.LayerRoot(diffID))

	blob := &hashReader{r: r, h: sha256.New(), read: read}
	var src io.Reader = blob
	var blobTmp string
	if needBlob {
		tmp, err := in.store.TempPath("blob")
		if err != nil {
			return res, err
		}
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return res, fmt.Errorf("write blob: %w", err)
		}
		defer f.Close()
		blobTmp = tmp
		defer func() {
			if blobTmp != "" {
				os.Remove(blobTmp)
			}
		}()
		src = io.TeeReader(blob, f)
	}

	var layerTmp, diff string
	if needLayer {
		tmp, d, err := in.store.MakeLayerDir()
		if err != nil {
			return res, err
		}
		layerTmp, diff = tmp, d
		defer func() {
			if layerTmp != "" {
				image.RemoveAll(layerTmp)
			}
		}()
	}

	tar, closeTar, err := decompress(src)
	if err != nil {
		return res, fmt.Errorf("layer %s: %w", image.Short(digestOr(digest, diffID)), err)
	}
	uncompressed := &hashReader{r: tar, h: sha256.New()}
	if needLayer {
		err = overlay.ApplyLayer(uncompressed, diff, overlay.ApplyOptions{Rootless: os.Geteuid() != 0, Warn: in.warn})
	} else {
		_, err = io.Copy(io.Discard, uncompressed)
	}
	closeTar()
	if err != nil {
		return res, fmt.Errorf("layer %s: %w", image.Short(digestOr(digest, diffID)), err)
	}
	// Whatever follows the compressed stream is part of the blob too.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return res, fmt.Errorf("layer %s: %w", image.Short(digestOr(digest, diffID)), err)
	}

	res.Digest, res.Size = blob.digest(), uncompressed.n
	if digest != "" && res.Digest != digest {
		return res, fmt.Errorf("layer %s: the blob hashes to %s: refused (corrupt or tampered with)", image.Short(digest), image.Short(res.Digest))
	}
	if got := uncompressed.digest(); got != diffID {
		return res, fmt.Errorf("layer %s: its tar hashes to %s, but the image config says %s: refused", image.Short(res.Digest), image.Short(got), image.Short(diffID))
	}
	if needBlob {
		tmp := blobTmp
		blobTmp = ""
		if err := in.commit(tmp, in.store.BlobPath(res.Digest)); err != nil {
			return res, err
		}
	}
	if needLayer {
		tmp := layerTmp
		layerTmp = ""
		placed, err := in.store.PlaceLayer(tmp, diffID, res.Size)
		if placed {
			in.added = append(in.added, in.store.LayerRoot(diffID))
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// compressionOf tells from a stream's first bytes how it is compressed:
// "gzip" (RFC 1952: 1f 8b), "zstd" (RFC 8878: 28 b5 2f fd) or "none".
func compressionOf(magic []byte) string {
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return "gzip"
	case len(magic) >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		return "zstd"
	}
	return "none"
}

// decompress returns r decompressed, whatever compressionOf finds, and
// what releases the decompressor.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch compressionOf(magic) {
	case "gzip":
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return gz, func() { gz.Close() }, nil
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// hashReader hashes and counts what is read through it.
type hashReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	read func(int64)
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if h.read != nil && n > 0 {
		h.read(h.n)
	}
	return n, err
}

func (h *hashReader) digest() string { return "sha256:" + hex.EncodeToString(h.h.Sum(nil)) }

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func digestOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
