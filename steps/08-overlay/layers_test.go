package overlay

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

func TestOptions(t *testing.T) {
	want := "lowerdir=../init:0:1,upperdir=../upper,workdir=../work"
	if diff := cmp.Diff(want, Options(2, false)); diff != "" {
		t.Errorf("Options (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want+",userxattr", Options(2, true)); diff != "" {
		t.Errorf("Options in a user namespace (-want +got):\n%s", diff)
	}
	// overlayfs stacks at most 500 lower layers; their options must fit the
	// page mount(2) copies.
	if n := len(Options(500, true)); n >= 4096 {
		t.Errorf("Options for 500 image layers is %d bytes, more than a page", n)
	}
}

// TestMakeLayers lays out a container's layers in a temporary directory,
// as the user running the test: no root needed.
func TestMakeLayers(t *testing.T) {
	tmp := t.TempDir()
	image := filepath.Join(tmp, "image")
	if err := os.MkdirAll(filepath.Join(image, "etc"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(image, "etc"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(image, 0o755); err != nil {
		t.Fatal(err)
	}
	l := LayersOf(filepath.Join(tmp, "root", "containers", "0123456789ab"))
	files := []initFile{{"/etc/hostname", "box\n"}, {"/etc/hosts", "127.0.0.1\tlocalhost\n"}}
	ctx := steps.NewContext(&steps.Spec{}, "host", io.Discard)
	if err := os.Mkdir(filepath.Join(tmp, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := makeLayers(ctx, l, []string{image}, files, os.Geteuid(), os.Getegid()); err != nil {
		t.Fatal(err)
	}
	me, _ := steps.Self()
	if got, err := steps.ReadOwner(l.RemoveBy); err != nil || got != me {
		t.Errorf("%s says %+v, %v; want this process, %+v", l.RemoveBy, got, err, me)
	}

	got := map[string]string{}
	err := filepath.WalkDir(l.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(l.Dir, p)
		got[rel] = fi.Mode().String()
		if fi.Mode().IsRegular() && rel != "remove-by" {
			b, _ := os.ReadFile(p)
			got[rel] += " " + strings.TrimSpace(string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".":                 "drwx--x--x",
		"lower":             "drwx------",
		"lower/0":           "drwx------",
		"init":              "drwxr-xr-x",
		"init/etc":          "drwxr-x---", // the image's /etc mode
		"init/etc/hostname": "-rw-r--r-- box",
		"init/etc/hosts":    "-rw-r--r-- 127.0.0.1\tlocalhost",
		"init/dev":          "drwxr-xr-x", // mount points the image lacks
		"init/proc":         "drwxr-xr-x",
		"init/sys":          "drwxr-xr-x",
		"upper":             "drwxr-xr-x", // the image's / mode
		"work":              "drwx------",
		"merged":            "drwxr-xr-x",
		"remove-by":         "-rw-------",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}

	// Everything goes, the containers directory stays.
	if err := RemoveLayers(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Dir); !os.IsNotExist(err) {
		t.Errorf("after RemoveLayers: %s is still there (%v)", l.Dir, err)
	}
	// Removing twice, or after a Prepare that made nothing, is fine.
	if err := RemoveLayers(ctx, l); err != nil {
		t.Errorf("RemoveLayers again: %v", err)
	}
}

// TestReclaimLayers: the layers of a --rm run whose mini is gone are
// removed; a live one's, and those of a container run without --rm, stay.
func TestReclaimLayers(t *testing.T) {
	root := t.TempDir()
	ctx := steps.NewContext(&steps.Spec{}, "host", io.Discard)
	me, err := steps.Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := steps.Owner{PID: me.PID, Start: me.Start + 1} // the pid, reused
	mk := func(id string, owner *steps.Owner) Layers {
		l := LayersOf(filepath.Join(root, "containers", id))
		for _, d := range []string{l.Init, l.Upper, l.Work, l.Merged} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if owner != nil {
			if err := steps.WriteOwner(l.RemoveBy, *owner); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	live, gone, kept := mk("live", &me), mk("gone", &dead), mk("kept", nil)
	reclaimLayers(ctx, root)
	for _, l := range []Layers{live, kept} {
		if _, err := os.Stat(l.Upper); err != nil {
			t.Errorf("%s: %v, want it left alone", l.Upper, err)
		}
	}
	if _, err := os.Stat(gone.Dir); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want it reclaimed", gone.Dir, err)
	}
}
