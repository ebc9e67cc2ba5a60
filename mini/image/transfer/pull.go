package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"mini/mini/image"
)

// The registry protocol (the OCI distribution spec: GET /v2/<name>/
// manifests/<ref>, GET /v2/<name>/blobs/<digest>, Docker's bearer-token
// handshake, credentials from ~/.docker/config.json) is plumbing, and comes
// from go-containerregistry, the library crane, ko and kaniko are built on.
// What mini does with what it fetches is written here: choose the
// platform's manifest, fetch the layers at once, verify and unpack each
// into the store.

// PullOptions are mini pull's flags.
type PullOptions struct {
	Insecure bool      // --insecure: plain HTTP to a registry that is not on this machine
	Quiet    bool      // -q: print only the image's name
	Out      io.Writer // where progress goes
}

// concurrentLayers is how many layers are fetched at once: docker's
// default (dockerd --max-concurrent-downloads).
const concurrentLayers = 3

// Pull fetches the image ref names (as the user typed it: arg) from its
// registry into the store, and names it so. A layer the store has is not
// fetched again; an image the store has already is not fetched at all.
func Pull(ctx context.Context, s *image.Store, arg string, opt PullOptions) (*image.Image, error) {
	ref, err := image.ParseReference(arg)
	if err != nil {
		return nil, err
	}
	s.Sweep()
	p := newProgress(opt.Out, opt.Quiet)
	if !strings.Contains(lastPart(arg), ":") && ref.Digest == "" {
		p.line("Using default tag: %s", ref.Tag)
	}
	what := ref.Tag
	if ref.Digest != "" {
		what = ref.Digest
	}
	p.line("%s: Pulling from %s", what, pathOf(ref))

	// A digest the store has needs no registry at all.
	if ref.Digest != "" {
		if img, err := s.Resolve(ref.Digest); err == nil && img.Digest == ref.Digest {
			if err := s.Add(img.Digest, image.Record{Config: img.ID, Size: img.Size}, []image.Reference{ref}); err != nil {
				return nil, err
			}
			p.line("Digest: %s", ref.Digest)
			p.line("Status: Image is up to date for %s", ref.Familiar())
			return img, nil
		}
	}

	nref, err := name.ParseReference(ref.String(), nameOptions(opt)...)
	if err != nil {
		return nil, err
	}
	puller, err := remote.NewPuller(
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(&httpOnlyHere{base: remote.DefaultTransport, registry: ref.Domain, insecure: opt.Insecure}),
		remote.WithUserAgent("mini"),
	)
	if err != nil {
		return nil, err
	}
	desc, err := puller.Get(ctx, nref)
	if err != nil {
		return nil, registryError(&ref, err)
	}
	topDigest := digestOf(desc.Manifest)
	if ref.Digest != "" && topDigest != ref.Digest {
		return nil, fmt.Errorf("pull %s: the registry's manifest hashes to %s: refused", ref.Familiar(), image.Short(topDigest))
	}
	manifest, digest, err := platformManifest(ctx, puller, nref, string(desc.MediaType), desc.Manifest, topDigest)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	m, err := image.ParseManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}

	in := &ingest{store: s, warn: func(f string, a ...any) { p.line("mini: warning: "+f, a...) }}
	config, err := s.ReadBlob(m.Config.Digest)
	if err != nil {
		config, err = fetchBlob(ctx, puller, nref, m.Config.Digest)
	}
	if err == nil {
		err = in.putBytes(m.Config.Digest, config)
	}
	if err != nil {
		in.rollback()
		return nil, fmt.Errorf("pull %s: config: %w", ref.Familiar(), err)
	}
	c, err := image.ParseConfig(config, m)
	if err != nil {
		in.rollback()
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}

	upToDate := image.Has(s.BlobPath(digest))
	size, err := pullLayers(ctx, puller, nref, in, m, c, p)
	if err == nil {
		err = in.putBytes(digest, manifest)
	}
	if err == nil {
		err = s.Add(digest, image.Record{Config: m.Config.Digest, Size: size, Added: time.Now().UTC()}, []image.Reference{ref})
	}
	if err != nil {
		in.rollback()
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	p.line("Digest: %s", topDigest)
	if upToDate && len(in.added) == 0 {
		p.line("Status: Image is up to date for %s", ref.Familiar())
	} else {
		p.line("Status: Downloaded newer image for %s", ref.Familiar())
	}
	return s.Resolve(digest)
}

// pullLayers fetches the layers the store lacks, concurrentLayers at once,
// each unpacked as it arrives. It returns the image's size: its layers'
// uncompressed tars.
func pullLayers(ctx context.Context, puller *remote.Puller, ref name.Reference, in *ingest, m *image.Manifest, c *image.Config, p *progress) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sizes := make([]int64, len(m.Layers))
	errs := make([]error, len(m.Layers))
	slots := make(chan struct{}, concurrentLayers)
	var wg sync.WaitGroup
	var mu sync.Mutex // in.added is shared
	for i, l := range m.Layers {
		diffID := c.RootFS.DiffIDs[i]
		id := image.Short(l.Digest)
		if image.Has(in.store.BlobPath(l.Digest)) && image.Has(in.store.LayerRoot(diffID)) {
			p.set(id, "Already exists")
			sizes[i], errs[i] = in.store.LayerSize(diffID)
			continue
		}
		p.set(id, "Pulling fs layer")
		wg.Add(1)
		go func(i int, l image.Descriptor) {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			if ctx.Err() != nil {
				return
			}
			sub := &ingest{store: in.store, warn: in.warn}
			sizes[i], errs[i] = pullLayer(ctx, puller, ref, sub, l, diffID, p)
			mu.Lock()
			in.added = append(in.added, sub.added...)
			mu.Unlock()
			if errs[i] != nil {
				cancel() // the others stop: the pull has failed
			}
		}(i, l)
	}
	wg.Wait()
	var total int64
	for i := range m.Layers {
		if errs[i] != nil && !errors.Is(errs[i], context.Canceled) {
			return 0, errs[i]
		}
		total += sizes[i]
	}
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return total, ctx.Err()
}

// pullLayer fetches one layer's blob (or reads it from the store, when
// only the unpacked layer is missing) and ingests it.
func pullLayer(ctx context.Context, puller *remote.Puller, ref name.Reference, in *ingest, l image.Descriptor, diffID string, p *progress) (int64, error) {
	id := image.Short(l.Digest)
	var r io.ReadCloser
	if path := in.store.BlobPath(l.Digest); image.Has(path) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		r = f
	} else {
		layer, err := puller.Layer(ctx, ref.Context().Digest(l.Digest))
		if err != nil {
			return 0, registryError(nil, err)
		}
		if r, err = layer.Compressed(); err != nil {
			return 0, registryError(nil, err)
		}
	}
	defer r.Close()
	res, err := in.layer(r, l.Digest, diffID, func(n int64) { p.bytes(id, n, l.Size) })
	if err != nil {
		return 0, err
	}
	p.set(id, "Pull complete")
	return res.Size, nil
}

// platformManifest returns the image manifest for this machine, and its
// digest: doc itself if it is one, else the one its index lists for
// linux on this architecture (runtime.GOARCH), fetched.
func platformManifest(ctx context.Context, puller *remote.Puller, ref name.Reference, mt string, doc []byte, digest string) ([]byte, string, error) {
	for depth := 0; ; depth++ {
		if image.IsManifest(mt) {
			return doc, digest, nil
		}
		if !image.IsIndex(mt) || depth > 2 {
			return nil, "", fmt.Errorf("the registry gave a %q, which is not an image manifest mini can read (docker schema 1 is long gone)", mt)
		}
		ix, err := image.ParseIndex(doc)
		if err != nil {
			return nil, "", err
		}
		d, err := image.ChoosePlatform(ix, runtime.GOARCH)
		if err != nil {
			return nil, "", err
		}
		desc, err := puller.Get(ctx, ref.Context().Digest(d.Digest))
		if err != nil {
			return nil, "", registryError(nil, err)
		}
		mt, doc, digest = string(desc.MediaType), desc.Manifest, d.Digest
		if digestOf(doc) != digest {
			return nil, "", fmt.Errorf("manifest %s: its content hashes to %s: refused", image.Short(digest), image.Short(digestOf(doc)))
		}
	}
}

// fetchBlob reads a small blob (a config) whole.
func fetchBlob(ctx context.Context, puller *remote.Puller, ref name.Reference, digest string) ([]byte, error) {
	layer, err := puller.Layer(ctx, ref.Context().Digest(digest))
	if err != nil {
		return nil, registryError(nil, err)
	}
	r, err := layer.Compressed()
	if err != nil {
		return nil, registryError(nil, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, registryError(nil, err)
	}
	return data, nil
}

// nameOptions: --insecure lets go-containerregistry speak plain HTTP.
func nameOptions(opt PullOptions) []name.Option {
	if opt.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// httpOnlyHere refuses plain HTTP to a registry that is not on this
// machine unless --insecure says so, as docker does. go-containerregistry
// falls back to HTTP for private addresses (10.0.0.0/8 and the like) too,
// where anyone on the network could change what mini unpacks.
type httpOnlyHere struct {
	base     http.RoundTripper
	registry string
	insecure bool
}

func (t *httpOnlyHere) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && req.URL.Host == t.registry && !t.insecure && !isLocal(req.URL.Hostname()) {
		return nil, fmt.Errorf("registry %s answers plain HTTP only: mini speaks HTTP to registries on this machine alone (use --insecure if you trust the network)", t.registry)
	}
	return t.base.RoundTrip(req)
}

// isLocal: localhost, or a loopback address.
func isLocal(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// registryError says what a registry's refusal means, in docker's words.
func registryError(ref *image.Reference, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && ref != nil {
		switch terr.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("pull %s: manifest unknown: %s has no such image", ref.Familiar(), ref.Domain)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("pull access denied for %s: the repository does not exist or needs a login (mini reads ~/.docker/config.json: docker login writes it)", ref.FamiliarName())
		}
	}
	if ref != nil {
		return fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	return err
}

// lastPart is what follows the last '/': where a tag would be.
func lastPart(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// pathOf is the repository as docker pull's first line shows it:
// "library/busybox".
func pathOf(ref image.Reference) string {
	if ref.Domain == "docker.io" {
		return ref.Path
	}
	return ref.Name()
}
