package transfer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"mini/mini/image"
)

// Unit tests against go-containerregistry's in-process registry; the
// scenarios (mini/testdata/script/image_*.txt) use a real one.

// tokenRegistry is a registry behind Docker Hub's handshake: a request
// without a bearer token gets 401 and a WWW-Authenticate challenge naming
// a token service; the token service gives a token to anyone (anonymous
// pulls), or only to a login when login is set.
type tokenRegistry struct {
	*httptest.Server
	login     string       // "user:password", or "" for anonymous pulls
	blobGets  atomic.Int32 // GET /v2/.../blobs/...
	tokenAsks atomic.Int32
}

func newTokenRegistry(t *testing.T, login string) *tokenRegistry {
	r := &tokenRegistry{login: login}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			r.tokenAsks.Add(1)
			if login != "" {
				user, pass, ok := req.BasicAuth()
				if !ok || user+":"+pass != login {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
			}
			json.NewEncoder(w).Encode(map[string]string{"token": "t0k3n"})
			return
		}
		if req.Header.Get("Authorization") != "Bearer t0k3n" && req.Method == http.MethodGet {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="test"`, r.URL))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.blobGets.Add(1)
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *tokenRegistry) host() string { u, _ := url.Parse(r.URL); return u.Host }

// push puts a random image of n layers in the registry (pushing is not
// mini's; go-containerregistry's remote.Write does it here).
func push(t *testing.T, r *tokenRegistry, ref string, n int) v1.Image {
	img, err := random.Image(2048, int64(n))
	if err != nil {
		t.Fatal(err)
	}
	nref, err := name.ParseReference(r.host() + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	var opts []remote.Option
	if user, pass, ok := strings.Cut(r.login, ":"); ok {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	}
	if err := remote.Write(nref, img, opts...); err != nil {
		t.Fatal(err)
	}
	return img
}

func testStore(t *testing.T) *image.Store {
	s, err := image.Open(filepath.Join(t.TempDir(), "data"), true)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPullAnonymousToken(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	r := newTokenRegistry(t, "")
	img := push(t, r, "test/app:v1", 3)
	s := testStore(t)
	var out bytes.Buffer
	got, err := Pull(context.Background(), s, r.host()+"/test/app:v1", PullOptions{Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := img.ConfigName()
	if got.ID != id.String() || len(s.LayerDirs(got)) != 3 {
		t.Errorf("pulled %s with %d layers, want %s with 3", got.ID, len(s.LayerDirs(got)), id)
	}
	if r.tokenAsks.Load() == 0 {
		t.Errorf("no token was asked for")
	}
	if n := strings.Count(out.String(), ": Pull complete\n"); n != 3 {
		t.Errorf("%d layers complete, want 3:\n%s", n, out.String())
	}

	// A second pull fetches no blob.
	before := r.blobGets.Load()
	out.Reset()
	if _, err := Pull(context.Background(), s, r.host()+"/test/app:v1", PullOptions{Out: &out}); err != nil {
		t.Fatal(err)
	}
	if n := r.blobGets.Load() - before; n != 0 {
		t.Errorf("the second pull fetched %d blobs", n)
	}
	if !strings.Contains(out.String(), "Status: Image is up to date for ") {
		t.Errorf("second pull said:\n%s", out.String())
	}
}

func TestPullLogin(t *testing.T) {
	r := newTokenRegistry(t, "mini:secret")
	push(t, r, "private/app:v1", 1)
	s := testStore(t)

	// Without credentials: refused, in docker's words.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	_, err := Pull(context.Background(), s, r.host()+"/private/app:v1", PullOptions{Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "pull access denied for "+r.host()+"/private/app") {
		t.Errorf("pull without a login: %v", err)
	}
	// With those docker login writes in ~/.docker/config.json.
	dir := t.TempDir()
	config := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, r.host(), base64.StdEncoding.EncodeToString([]byte("mini:secret")))
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600)
	t.Setenv("DOCKER_CONFIG", dir)
	if _, err := Pull(context.Background(), s, r.host()+"/private/app:v1", PullOptions{Out: io.Discard}); err != nil {
		t.Errorf("pull with the login: %v", err)
	}
}

func TestPullNotFound(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	r := newTokenRegistry(t, "")
	s := testStore(t)
	_, err := Pull(context.Background(), s, r.host()+"/no/such:v1", PullOptions{Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "manifest unknown") {
		t.Errorf("pull of a missing image: %v", err)
	}
}

// TestHTTPOnlyHere: plain HTTP goes to this machine only, unless
// --insecure.
func TestHTTPOnlyHere(t *testing.T) {
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return &http.Response{StatusCode: 200}, nil })
	for _, tc := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"http://127.0.0.1:5000/v2/", false, true},
		{"http://localhost:5000/v2/", false, true},
		{"http://[::1]:5000/v2/", false, true},
		{"http://10.1.2.3:5000/v2/", false, false},
		{"http://10.1.2.3:5000/v2/", true, true},
		{"https://10.1.2.3:5000/v2/", false, true},
	} {
		u, _ := url.Parse(tc.url)
		rt := &httpOnlyHere{base: base, registry: u.Host, insecure: tc.insecure}
		_, err := rt.RoundTrip(&http.Request{URL: u})
		if (err == nil) != tc.ok {
			t.Errorf("%s insecure=%v: %v", tc.url, tc.insecure, err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSaveLoad: what mini save writes, mini load reads back into another
// store as the same image, with the same names and layers.
func TestSaveLoad(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	r := newTokenRegistry(t, "")
	push(t, r, "test/app:v1", 2)
	a := testStore(t)
	img, err := Pull(context.Background(), a, r.host()+"/test/app:v1", PullOptions{Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := Save(a, []string{r.host() + "/test/app:v1"}, &archive); err != nil {
		t.Fatal(err)
	}
	b := testStore(t)
	var out bytes.Buffer
	if err := Load(b, bytes.NewReader(archive.Bytes()), LoadOptions{Out: &out}); err != nil {
		t.Fatal(err)
	}
	if want := "Loaded image: " + r.host() + "/test/app:v1\n"; out.String() != want {
		t.Errorf("load said %q, want %q", out.String(), want)
	}
	got, err := b.Resolve(r.host() + "/test/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != img.Digest || got.ID != img.ID || got.Size != img.Size {
		t.Errorf("loaded %s (id %s, %d bytes), saved %s (id %s, %d bytes)", got.Digest, got.ID, got.Size, img.Digest, img.ID, img.Size)
	}
	if diff := cmp.Diff(listTree(t, a.LayerDirs(img)[0]), listTree(t, b.LayerDirs(got)[0])); diff != "" {
		t.Errorf("the top layer differs (-saved +loaded):\n%s", diff)
	}
}

func listTree(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, fmt.Sprintf("%s %v %d", rel, fi.Mode(), fi.Size()))
		}
		return nil
	})
	return out
}

// TestLoadTampered: a layer whose blob is not what the archive says is
// refused, and nothing of the image stays.
func TestLoadTampered(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	r := newTokenRegistry(t, "")
	push(t, r, "test/app:v1", 2)
	a := testStore(t)
	img, err := Pull(context.Background(), a, r.host()+"/test/app:v1", PullOptions{Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	// The top layer's blob, changed in the store, is saved as it is.
	top := a.BlobPath(img.Manifest.Layers[1].Digest)
	data, _ := os.ReadFile(top)
	data[len(data)/2] ^= 0xff
	os.WriteFile(top, data, 0o600)
	var archive bytes.Buffer
	err = Save(a, []string{r.host() + "/test/app:v1"}, &archive)
	if err == nil || !strings.Contains(err.Error(), "the store is damaged") {
		t.Errorf("Save of a damaged blob: %v", err)
	}

	// An archive whose blob was changed on the way: load refuses it.
	data[len(data)/2] ^= 0xff
	os.WriteFile(top, data, 0o600)
	archive.Reset()
	if err := Save(a, []string{r.host() + "/test/app:v1"}, &archive); err != nil {
		t.Fatal(err)
	}
	raw := archive.Bytes()
	i := bytes.Index(raw, data)
	if i < 0 {
		t.Fatal("the blob is not in the archive as it is")
	}
	raw[i+len(data)/2] ^= 0xff
	b := testStore(t)
	err = Load(b, bytes.NewReader(raw), LoadOptions{Out: io.Discard})
	if err == nil {
		t.Errorf("Load of a changed blob worked")
	}
	for _, d := range []string{"blobs/sha256", "layers", "tmp"} {
		if left, _ := os.ReadDir(filepath.Join(b.Root, d)); len(left) != 0 {
			t.Errorf("%s after a refused load: %v", d, left)
		}
	}
}
