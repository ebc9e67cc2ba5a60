package steps

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenInRoot: an image's symlinks lead inside the image, never out of
// it, and what is missing is made inside it, where they point.
func TestOpenInRoot(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	outside := filepath.Join(tmp, "outside")
	for _, d := range []string{root + "/etc", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"abs":      "/etc",               // absolute: the image's /etc
		"up":       "../../../../../etc", // climbs: stops at the image's /
		"host":     outside,              // a host path: the same path inside
		"dangling": "/made/here",         // missing: made where it points
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := NewContext(&Spec{}, "child", io.Discard)
	for _, tc := range []struct{ path, want string }{
		{"/abs", "etc"},
		{"/up", "etc"},
		{"/host/new/dir", filepath.Join(outside[1:], "new/dir")},
		{"/dangling/sub", "made/here/sub"},
	} {
		f, err := OpenInRoot(ctx, root, tc.path, MakeDir(ctx, 0o755))
		if err != nil {
			t.Errorf("OpenInRoot(%s): %v", tc.path, err)
			continue
		}
		f.Close()
		if fi, err := os.Lstat(filepath.Join(root, tc.want)); err != nil || !fi.IsDir() {
			t.Errorf("OpenInRoot(%s): want the directory %s inside the root: %v", tc.path, tc.want, err)
		}
	}
	// Nothing was made outside the root.
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("%s has %d entries: OpenInRoot made something outside the root", outside, len(entries))
	}
	// Without create, a missing path is an error, and nothing is made.
	if _, err := OpenInRoot(ctx, root, "/nope/x", nil); err == nil {
		t.Errorf("OpenInRoot(/nope/x) without create: no error")
	}
	if _, err := os.Lstat(filepath.Join(root, "nope")); err == nil {
		t.Errorf("OpenInRoot without create made /nope")
	}
}
