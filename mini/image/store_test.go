package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

// testStore makes a store in a temporary directory.
func testStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "data"), true)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// putImage puts an image with these layers (each a name, standing for its
// diff id and its blob) in the store as transfer would: blobs, layer
// directories, then the index. It returns the manifest's digest.
func putImage(t *testing.T, s *Store, created string, layers []string, names ...string) (string, string) {
	t.Helper()
	put := func(data []byte) string {
		d := digestOf(data)
		if err := os.WriteFile(s.BlobPath(d), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var diffIDs []string
	m := Manifest{SchemaVersion: 2, MediaType: MediaOCIManifest}
	for _, l := range layers {
		diffIDs = append(diffIDs, digestOf([]byte("diff "+l)))
		m.Layers = append(m.Layers, Descriptor{MediaType: MediaOCILayerGzip, Digest: put([]byte("blob " + l))})
		root := s.LayerRoot(diffIDs[len(diffIDs)-1])
		if err := os.MkdirAll(filepath.Join(root, "diff"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, "size"), []byte("1000\n"), 0o600)
	}
	config, _ := json.Marshal(map[string]any{"created": created, "architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	m.Config = Descriptor{MediaType: MediaOCIConfig, Digest: put(config)}
	manifest, _ := json.Marshal(m)
	digest := put(manifest)
	var refs []Reference
	for _, n := range names {
		r, err := ParseReference(n)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if err := s.Add(digest, Record{Config: m.Config.Digest, Size: int64(1000 * len(layers)), Added: time.Now()}, refs); err != nil {
		t.Fatal(err)
	}
	return digest, m.Config.Digest
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, false)
	if err == nil || !strings.Contains(err.Error(), "may be written by group or others (mode 0777)") {
		t.Errorf("Open of a 0777 data root: %v", err)
	}
	// A store not made yet is an empty one; made, it is 0700.
	s, err := Open(filepath.Join(dir, "new", "data"), false)
	if err != nil {
		t.Fatal(err)
	}
	if imgs, err := s.Images(); err != nil || len(imgs) != 0 {
		t.Errorf("Images of a store not made: %v, %v", imgs, err)
	}
	if _, err := os.Stat(s.Root); !os.IsNotExist(err) {
		t.Errorf("Open without create made %s", s.Root)
	}
	if s, err = Open(s.Root, true); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"", "blobs", "layers", "tmp"} {
		fi, err := os.Stat(filepath.Join(s.Root, d))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v: want a 0700 directory", d, fi.Mode(), err)
		}
	}
}

func TestResolveTagRemove(t *testing.T) {
	s := testStore(t)
	busybox, busyboxID := putImage(t, s, "2024-01-01T00:00:00Z", []string{"base"}, "busybox", "localhost:5000/x/busybox:1")
	app, appID := putImage(t, s, "2024-02-01T00:00:00Z", []string{"base", "app"}, "app:2")

	for arg, want := range map[string]string{
		"busybox":                          busybox,
		"docker.io/library/busybox:latest": busybox,
		"localhost:5000/x/busybox:1":       busybox,
		"app:2":                            app,
		Hex(appID)[:6]:                     app,
		appID:                              app,
		busybox:                            busybox, // a manifest digest
		"busybox@" + busybox:               busybox,
	} {
		img, err := s.Resolve(arg)
		if err != nil || img.Digest != want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", arg, img, err, Short(want))
		}
	}
	if _, err := s.Resolve("app:3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve of a missing name: %v, want ErrNotFound", err)
	}
	img, _ := s.Resolve("app:2")
	if diff := cmp.Diff([]string{s.LayerDir(img.Config.RootFS.DiffIDs[1]), s.LayerDir(img.Config.RootFS.DiffIDs[0])}, s.LayerDirs(img)); diff != "" {
		t.Errorf("LayerDirs, topmost first (-want +got):\n%s", diff)
	}

	if err := s.Tag("busybox", mustRef(t, "mine:1")); err != nil {
		t.Fatal(err)
	}
	imgs, err := s.Images()
	if err != nil || len(imgs) != 2 {
		t.Fatalf("Images: %v, %v", imgs, err)
	}
	if imgs[0].Digest != app || len(imgs[1].Names) != 3 {
		t.Errorf("Images: want app first (newest), busybox with 3 names; got %v, %v", imgs[0].Names, imgs[1].Names)
	}

	// A name goes; the image stays while it has another.
	lines, err := s.Remove("mine:1", nil)
	if diff := cmp.Diff([]string{"Untagged: mine:1"}, lines); diff != "" || err != nil {
		t.Errorf("Remove mine:1: %v (-want +got):\n%s", err, diff)
	}
	// Used by a container: its last names cannot go.
	users := map[string][]string{appID: {"0123456789ab"}}
	if _, err := s.Remove("app:2", users); err == nil || !strings.Contains(err.Error(), "container 0123456789ab uses image") {
		t.Errorf("Remove of a used image: %v", err)
	}
	// By id: every name, then the image, and the layer only it had.
	lines, err = s.Remove(Hex(busyboxID)[:8], nil)
	want := []string{"Untagged: busybox:latest", "Untagged: localhost:5000/x/busybox:1", "Deleted: " + busyboxID}
	if diff := cmp.Diff(want, lines); diff != "" || err != nil {
		t.Errorf("Remove by id: %v (-want +got):\n%s", err, diff)
	}
	if !Has(s.LayerRoot(img.Config.RootFS.DiffIDs[0])) || !Has(s.BlobPath(img.Manifest.Layers[0].Digest)) {
		t.Errorf("the base layer app:2 shares was removed with busybox")
	}
	if _, err := s.Remove("app:2", nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"blobs/sha256", "layers", "tmp"} {
		if left, _ := os.ReadDir(filepath.Join(s.Root, d)); len(left) != 0 {
			t.Errorf("%s after every image is removed: %v", d, left)
		}
	}
}

func mustRef(t *testing.T, s string) Reference {
	r, err := ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDiscard: what a failed pull put in place goes, unless an image
// uses it.
func TestDiscard(t *testing.T) {
	s := testStore(t)
	_, _ = putImage(t, s, "2024-01-01T00:00:00Z", []string{"base"}, "busybox")
	img, _ := s.Resolve("busybox")
	orphan := s.LayerRoot(digestOf([]byte("orphan")))
	os.MkdirAll(filepath.Join(orphan, "diff", "ro"), 0o755)
	os.Chmod(filepath.Join(orphan, "diff", "ro"), 0o555)
	blob := s.BlobPath(digestOf([]byte("orphan blob")))
	os.WriteFile(blob, []byte("orphan blob"), 0o600)
	shared := s.LayerRoot(img.Config.RootFS.DiffIDs[0])
	if err := s.Discard([]string{orphan, blob, shared}); err != nil {
		t.Fatal(err)
	}
	if Has(orphan) || Has(blob) || !Has(shared) {
		t.Errorf("after Discard: orphan layer %v, orphan blob %v, shared layer %v; want false false true", Has(orphan), Has(blob), Has(shared))
	}
}

// TestUsers: a container's record counts while it keeps something or its
// writer runs; a record alone whose writer is gone is removed.

func TestSweep(t *testing.T) {
	s := testStore(t)
	me, _ := steps.Self()
	mine, _ := s.TempPath("layer")
	os.Mkdir(mine, 0o700)
	// pid 1 did not start at tick 1: whoever wrote this is gone.
	gone := filepath.Join(s.Root, "tmp", "1.1.layer.dead")
	os.Mkdir(gone, 0o700)
	s.Sweep()
	if !Has(mine) {
		t.Errorf("Sweep removed the temporary file of a live mini (pid %d)", me.PID)
	}
	if Has(gone) {
		t.Errorf("Sweep left %s, whose mini is gone", gone)
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 4262000: "4.26MB", 2429440: "2.43MB", 77_300_000_000: "77.3GB"} {
		if got := HumanSize(n, 3); got != want {
			t.Errorf("HumanSize(%d, 3) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30 seconds", 90 * time.Second: "About a minute", 5 * time.Minute: "5 minutes",
		61 * time.Minute: "About an hour", 30 * time.Hour: "30 hours", 5 * 24 * time.Hour: "5 days",
		20 * 24 * time.Hour: "2 weeks", 90 * 24 * time.Hour: "3 months", 800 * 24 * time.Hour: "2 years",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestChoosePlatform(t *testing.T) {
	ix := &Index{SchemaVersion: 2, Manifests: []Descriptor{
		{Digest: "sha256:a", Platform: &Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{Digest: "sha256:b", Platform: &Platform{OS: "unknown", Architecture: "unknown"}},
		{Digest: "sha256:c", Platform: &Platform{OS: "linux", Architecture: "amd64"}},
		{Digest: "sha256:d"},
	}}
	if d, err := ChoosePlatform(ix, "amd64"); err != nil || d.Digest != "sha256:c" {
		t.Errorf("ChoosePlatform amd64: %v, %v", d, err)
	}
	if d, err := ChoosePlatform(ix, "arm64"); err != nil || d.Digest != "sha256:a" {
		t.Errorf("ChoosePlatform arm64: %v, %v", d, err)
	}
	_, err := ChoosePlatform(ix, "riscv64")
	if err == nil || err.Error() != "no image for linux/riscv64 in the index (it has linux/arm64/v8, unknown/unknown, linux/amd64)" {
		t.Errorf("ChoosePlatform riscv64: %v", err)
	}
}
