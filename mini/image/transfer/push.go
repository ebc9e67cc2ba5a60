package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"mini/mini/image"
)

// Push is pull backwards, with the same plumbing (go-containerregistry's
// remote package, ~/.docker/config.json's credentials, plain HTTP to this
// machine's registries only): each blob the image's manifest names, its
// layers then its config, goes up as the store has it (POST then PUT
// /v2/<name>/blobs/uploads/, skipped when the registry has it already:
// HEAD /v2/<name>/blobs/<digest>), then the manifest, its bytes as they are
// so that its digest stays, under the tag (PUT /v2/<name>/manifests/<tag>).

// PushOptions are mini push's flags.
type PushOptions struct {
	Insecure bool      // --insecure: plain HTTP to a registry that is not on this machine
	Quiet    bool      // -q: print nothing but errors
	Out      io.Writer // docker push's lines
}

// Push sends the image arg names to the registry its name is on.
func Push(ctx context.Context, s *image.Store, arg string, opt PushOptions) error {
	ref, err := image.ParseReference(arg)
	if err != nil {
		return err
	}
	if ref.Digest != "" {
		return fmt.Errorf("push %s: push a name with a tag, not a digest", arg)
	}
	img, err := s.Resolve(ref.String())
	if errors.Is(err, image.ErrNotFound) {
		return fmt.Errorf("push %s: no such image: give it this name first (mini tag IMAGE %s)", ref.Familiar(), ref.Familiar())
	}
	if err != nil {
		return err
	}
	p := newProgress(opt.Out, opt.Quiet)
	p.line("The push refers to repository [%s]", pathOfPush(ref))
	nref, err := name.ParseReference(ref.String(), nameOptions(PullOptions{Insecure: opt.Insecure})...)
	if err != nil {
		return err
	}
	pusher, err := remote.NewPusher(
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(&httpOnlyHere{base: remote.DefaultTransport, registry: ref.Domain, insecure: opt.Insecure}),
		remote.WithUserAgent("mini"),
		remote.WithContext(ctx),
	)
	if err != nil {
		return err
	}
	m := img.Manifest
	// The top layer first, as docker push lists them; the config last.
	blobs := []image.Descriptor{m.Config}
	for i := len(m.Layers) - 1; i >= 0; i-- {
		blobs = append(blobs, m.Layers[i])
	}
	for _, d := range blobs[1:] {
		p.set(image.Short(d.Digest), "Preparing")
	}
	for _, d := range append(blobs[1:], blobs[0]) {
		b := &storeBlob{store: s, desc: d}
		if err := pusher.Upload(ctx, nref.Context(), b); err != nil {
			return pushError(ref, err)
		}
		if d.Digest == m.Config.Digest {
			continue
		}
		if b.read.Load() {
			p.set(image.Short(d.Digest), "Pushed")
		} else {
			p.set(image.Short(d.Digest), "Layer already exists")
		}
	}
	raw, err := s.ReadBlob(img.Digest)
	if err != nil {
		return err
	}
	mt := m.MediaType
	if mt == "" {
		mt = image.MediaOCIManifest
	}
	if err := pusher.Put(ctx, nref, rawManifest{data: raw, mediaType: mt}); err != nil {
		return pushError(ref, err)
	}
	p.line("%s: digest: %s size: %d", ref.Tag, img.Digest, len(raw))
	return nil
}

// storeBlob is a blob of the store as go-containerregistry uploads one (a
// v1.Layer): its digest, size and media type, and its bytes. read records
// whether they were read: a blob the registry had is not.
type storeBlob struct {
	store *image.Store
	desc  image.Descriptor
	read  atomic.Bool
}

func (b *storeBlob) Digest() (v1.Hash, error) { return v1.NewHash(b.desc.Digest) }
func (b *storeBlob) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("push uploads blobs as they are: no diff id needed")
}
func (b *storeBlob) Compressed() (io.ReadCloser, error) {
	b.read.Store(true)
	return os.Open(b.store.BlobPath(b.desc.Digest))
}
func (b *storeBlob) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("push uploads blobs as they are: nothing to decompress")
}
func (b *storeBlob) Size() (int64, error) { return fileSize(b.store.BlobPath(b.desc.Digest)) }
func (b *storeBlob) MediaType() (types.MediaType, error) {
	return types.MediaType(b.desc.MediaType), nil
}

// rawManifest is the manifest's bytes as the store has them: its digest
// stays the image's.
type rawManifest struct {
	data      []byte
	mediaType string
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.data, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.MediaType(r.mediaType), nil }

// pushError says what a registry's refusal means, in docker's words.
func pushError(ref image.Reference, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("push %s: denied: requested access to the resource is denied (log in: mini reads ~/.docker/config.json, which docker login writes)", ref.Familiar())
		}
	}
	return fmt.Errorf("push %s: %w", ref.Familiar(), err)
}

// pathOfPush is the repository as docker push's first line shows it:
// "docker.io/library/busybox", "localhost:5000/x".
func pathOfPush(ref image.Reference) string { return ref.Name() }
