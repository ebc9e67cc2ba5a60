package overlay

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, link string
	typ        byte
	mode       int64
	body       string
	uid, gid   int
	xattr      map[string]string
	major      int64
}

// layerTar writes entries as a tar, as image builders do (PAX headers for
// xattrs), with a few zero blocks of padding after the end.
func layerTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: mtime, Size: int64(len(e.body)), Devmajor: e.major,
			Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		for k, v := range e.xattr {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b.Write(make([]byte, 4096)) // padding, as a tar record of 10240 bytes has
	return b.Bytes()
}

func dir(name string, mode int64) entry { return entry{name: name, typ: tar.TypeDir, mode: mode} }
func file(name, body string, mode int64) entry {
	return entry{name: name, typ: tar.TypeReg, mode: mode, body: body}
}

// listing describes every path under dir: type, mode, size or target, and
// for devices major:minor.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode()&os.ModeDevice != 0:
			line += fmt.Sprintf(" %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q nlink=%d", b, st.Nlink)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func apply(t *testing.T, data []byte, opt ApplyOptions) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Without root, the test's cleanup cannot empty the layer's read-only
	// directories: make them writable first.
	t.Cleanup(func() {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	})
	r := bytes.NewReader(data)
	err := ApplyLayer(r, dir, opt)
	if err == nil && r.Len() != 0 {
		t.Errorf("ApplyLayer left %d bytes of the stream unread", r.Len())
	}
	return dir, err
}

func rootless() bool { return os.Geteuid() != 0 }

// TestApplyLayer unpacks a layer with every kind of entry and checks what
// lands on disk.
func TestApplyLayer(t *testing.T) {
	data := layerTar(t,
		dir("./", 0o755),
		dir("etc/", 0o755),
		file("etc/passwd", "root:x:0:0\n", 0o644),
		file("etc/passwd", "root:x:0:0:twice\n", 0o600), // listed again: the last wins
		dir("bin", 0o555),                               // read-only, filled after
		file("bin/su", "#!su", 0o4755),                  // setuid
		entry{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
		entry{name: "bin/ash", typ: tar.TypeLink, link: "bin/su"},
		entry{name: "run/fifo", typ: tar.TypeFifo, mode: 0o640}, // run/ is not listed: made 0755
		file("data/x", "x", 0o644),
		file("data/.wh..wh..opq", "", 0o644), // data hides the layers below
		file("etc/.wh.motd", "", 0o644),      // deletes /etc/motd of the layers below
		file("usr/.wh..wh.plnk", "", 0o644),  // AUFS bookkeeping: ignored
		entry{name: "etc/attr", typ: tar.TypeReg, mode: 0o644, xattr: map[string]string{"user.mini": "kept", "user.overlay.opaque": "y"}},
	)
	dir, err := apply(t, data, ApplyOptions{Rootless: rootless()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		". drwxr-xr-x",
		"bin dr-xr-xr-x",
		`bin/ash urwxr-xr-x "#!su" nlink=2`, // u: setuid
		"bin/sh Lrwxrwxrwx -> /bin/busybox",
		`bin/su urwxr-xr-x "#!su" nlink=2`,
		"data drwxr-xr-x",
		`data/x -rw-r--r-- "x" nlink=1`,
		"etc drwxr-xr-x",
		`etc/attr -rw-r--r-- "" nlink=1`,
		"etc/motd Dc--------- 0:0",
		`etc/passwd -rw------- "root:x:0:0:twice\n" nlink=1`,
		"run drwxr-xr-x",
		"run/fifo prw-r-----",
		"usr drwxr-xr-x",
	}
	if diff := cmp.Diff(want, listing(t, dir)); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}

	// Times are the tar's, directories' too (set after their entries).
	for _, p := range []string{"etc", "etc/passwd", "bin"} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC); !fi.ModTime().Equal(want) {
			t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), want)
		}
	}
	// The opaque marker is overlayfs's, in the namespace the mount reads.
	if v := getxattr(t, filepath.Join(dir, "data"), opaqueUser); v != "y" {
		t.Errorf("data: %s = %q, want \"y\"", opaqueUser, v)
	}
	if !rootless() {
		if v := getxattr(t, filepath.Join(dir, "data"), opaqueTrusted); v != "y" {
			t.Errorf("data: %s = %q, want \"y\"", opaqueTrusted, v)
		}
	}
	// A layer's own xattrs are kept; overlayfs's markers it carries are not.
	if v := getxattr(t, filepath.Join(dir, "etc/attr"), "user.mini"); v != "kept" {
		t.Errorf("etc/attr: user.mini = %q, want \"kept\"", v)
	}
	if v := getxattr(t, filepath.Join(dir, "etc/attr"), opaqueUser); v != "" {
		t.Errorf("etc/attr: %s = %q, want none", opaqueUser, v)
	}
}

func getxattr(t *testing.T, p, name string) string {
	t.Helper()
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// TestApplyLayerOwners: as root, owners are the tar's.
func TestApplyLayerOwners(t *testing.T) {
	if rootless() {
		t.Skip("only root may give files to others (the rest of this package's tests run without root)")
	}
	data := layerTar(t,
		entry{name: "home/", typ: tar.TypeDir, mode: 0o755, uid: 1000, gid: 1000},
		entry{name: "home/f", typ: tar.TypeReg, mode: 0o2755, uid: 1000, gid: 50},
		entry{name: "home/l", typ: tar.TypeSymlink, link: "f", uid: 7, gid: 8},
		entry{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1},
	)
	dir, err := apply(t, data, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"home": "1000:1000 40755", "home/f": "1000:50 102755", "home/l": "7:8 120777", "dev/null": "0:0 20666"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, p), &st); err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("%d:%d %o", st.Uid, st.Gid, st.Mode)
		if got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
}

// TestApplyLayerRootless: a user without root gets no devices but
// whiteouts, and one warning.
func TestApplyLayerRootless(t *testing.T) {
	data := layerTar(t,
		entry{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1},
		entry{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, major: 8},
		entry{name: "dev/gone", typ: tar.TypeChar}, // 0:0, a whiteout in its tar form
	)
	var warnings []string
	dir, err := apply(t, data, ApplyOptions{Rootless: true, Warn: func(f string, a ...any) {
		warnings = append(warnings, fmt.Sprintf(f, a...))
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{". drwx------", "dev drwxr-xr-x", "dev/gone Dc--------- 0:0"}
	if diff := cmp.Diff(want, listing(t, dir)); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "device nodes skipped") {
		t.Errorf("warnings %q, want one about device nodes", warnings)
	}
}

// TestApplyLayerHostile: a layer that tries to leave its directory is
// refused, and nothing outside the directory changes.
func TestApplyLayerHostile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dot-dot", []entry{file("../escaped", "x", 0o644)}, `".." component would leave the layer`},
		{"dot-dot inside", []entry{dir("a", 0o755), file("a/../../escaped", "x", 0o644)}, `".." component`},
		{"absolute", []entry{file("/tmp/escaped", "x", 0o644)}, "absolute path"},
		{"symlinked parent, absolute", []entry{{name: "etc", typ: tar.TypeSymlink, link: "/etc"}, file("etc/escaped", "x", 0o644)}, "under a symbolic link"},
		{"symlinked parent, relative", []entry{{name: "up", typ: tar.TypeSymlink, link: ".."}, file("up/escaped", "x", 0o644)}, "under a symbolic link"},
		{"symlinked grandparent", []entry{{name: "a", typ: tar.TypeSymlink, link: "/"}, file("a/b/escaped", "x", 0o644)}, "under a symbolic link"},
		{"whiteout under a symlink", []entry{{name: "a", typ: tar.TypeSymlink, link: "/tmp"}, file("a/.wh.x", "", 0o644)}, "under a symbolic link"},
		{"opaque under a symlink", []entry{{name: "a", typ: tar.TypeSymlink, link: "/tmp"}, file("a/.wh..wh..opq", "", 0o644)}, "under a symbolic link"},
		{"hard link out", []entry{{name: "passwd", typ: tar.TypeLink, link: "../../../../etc/passwd"}}, `".." component`},
		{"hard link absolute", []entry{{name: "passwd", typ: tar.TypeLink, link: "/etc/passwd"}}, "absolute path"},
		{"hard link through a symlink", []entry{{name: "e", typ: tar.TypeSymlink, link: "/etc"}, {name: "passwd", typ: tar.TypeLink, link: "e/passwd"}}, "under a symbolic link"},
		{"hard link to nothing", []entry{{name: "x", typ: tar.TypeLink, link: "nothing"}}, "not in the layer"},
		{"huge name", []entry{file(strings.Repeat("d/", 2100)+"f", "x", 0o644)}, "PATH_MAX"},
		{"huge component", []entry{file(strings.Repeat("n", 300), "x", 0o644)}, "NAME_MAX"},
		{"whiteout of ..", []entry{file("a/.wh...", "", 0o644)}, "whiteout of no file"},
		{"replaces a full directory", []entry{dir("d", 0o755), file("d/f", "x", 0o644), file("d", "x", 0o644)}, "replaces a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			data := layerTar(t, tc.entries...)
			layer := filepath.Join(outside, "layer")
			if err := os.Mkdir(layer, 0o700); err != nil {
				t.Fatal(err)
			}
			err := ApplyLayer(bytes.NewReader(data), layer, ApplyOptions{Rootless: rootless()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ApplyLayer: %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
			if _, err := os.Lstat(filepath.Join(outside, "escaped")); err == nil {
				t.Errorf("a file was written outside the layer")
			}
			names, _ := os.ReadDir(outside)
			if len(names) != 1 {
				t.Errorf("beside the layer: %v, want nothing", names)
			}
		})
	}
	for _, p := range []string{"/etc/escaped", "/tmp/escaped", "/escaped"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists: a hostile layer escaped (remove it)", p)
		}
	}
}

func TestCleanName(t *testing.T) {
	for name, want := range map[string]string{
		"./":          ".",
		".":           ".",
		"./usr//bin/": "usr/bin",
		"a/./b":       "a/b",
		"..":          "error",
		"a/..":        "error",
		"/":           ".", // umoci's root entry
		"/etc":        "error",
		"a\x00b":      "error",
		"...":         "...",
		".wh..":       ".wh..",
	} {
		got, err := cleanName(name)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("cleanName(%q) = %q (%v), want %q", name, got, err, want)
		}
	}
}
