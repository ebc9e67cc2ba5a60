package overlay

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

// tarEntries lists a tar's entries: name, type, owner, and a link's target.
func tarEntries(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		line := hdr.Name + " " + string(hdr.Typeflag)
		if hdr.Linkname != "" {
			line += " -> " + hdr.Linkname
		}
		out = append(out, line)
	}
}

func diff(t *testing.T, dir string, opt DiffOptions) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	err := Diff(&b, dir, opt)
	return b.Bytes(), err
}

// TestDiffRoundTrip unpacks a layer with every kind of entry (whiteouts and
// an opaque directory included: what an upper directory holds), writes it
// back with Diff, and unpacks that again: the same files.
func TestDiffRoundTrip(t *testing.T) {
	data := layerTar(t,
		dir("etc/", 0o755),
		file("etc/passwd", "root:x:0:0\n", 0o600),
		dir("bin", 0o555),
		file("bin/su", "#!su", 0o4755),
		entry{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
		entry{name: "bin/ash", typ: tar.TypeLink, link: "bin/su"},
		entry{name: "run/fifo", typ: tar.TypeFifo, mode: 0o640},
		file("data/x", "x", 0o644),
		file("data/.wh..wh..opq", "", 0o644),
		file("etc/.wh.motd", "", 0o644),
		entry{name: "etc/attr", typ: tar.TypeReg, mode: 0o644, xattr: map[string]string{"user.mini": "kept"}},
	)
	first, err := apply(t, data, ApplyOptions{Rootless: rootless()})
	if err != nil {
		t.Fatal(err)
	}
	out, err := diff(t, first, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"bin/ 5",
		"bin/ash 0", // sorted: ash is written first, su links to it
		"bin/sh 2 -> /bin/busybox",
		"bin/su 1 -> bin/ash",
		"data/ 5",
		"data/.wh..wh..opq 0",
		"data/x 0",
		"etc/ 5",
		"etc/attr 0",
		"etc/.wh.motd 0",
		"etc/passwd 0",
		"run/ 5",
		"run/fifo 6",
	}
	if d := cmp.Diff(want, tarEntries(t, out)); d != "" {
		t.Errorf("Diff's tar (-want +got):\n%s", d)
	}
	second, err := apply(t, out, ApplyOptions{Rootless: rootless()})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(listing(t, first), listing(t, second)); d != "" {
		t.Errorf("unpacked again (-first +second):\n%s", d)
	}
	if v := getxattr(t, filepath.Join(second, "etc/attr"), "user.mini"); v != "kept" {
		t.Errorf("etc/attr: user.mini = %q after the round trip, want \"kept\"", v)
	}
	// The same directory, the same tar: a layer's diff id is its hash.
	again, err := diff(t, first, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Error("two Diffs of one directory differ")
	}
}

// TestDiffOwners: owners are shifted back through the container's map,
// and an owner outside it is refused.
func TestDiffOwners(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	me, mygid := os.Getuid(), os.Getgid()
	// The container's 0 is this test's user: what it owns is root's in
	// the layer, as host uid 100000 is with step 5's map.
	maps := DiffOptions{
		UIDMap: []steps.IDMap{{ContainerID: 0, HostID: me, Size: 1}},
		GIDMap: []steps.IDMap{{ContainerID: 0, HostID: mygid, Size: 1}},
	}
	out, err := diff(t, dir, maps)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := tar.NewReader(bytes.NewReader(out)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Uid != 0 || hdr.Gid != 0 {
		t.Errorf("f: owner %d:%d in the layer, want 0:0", hdr.Uid, hdr.Gid)
	}
	maps.UIDMap = []steps.IDMap{{ContainerID: 0, HostID: me + 1, Size: 1}}
	if _, err := diff(t, dir, maps); err == nil || !strings.Contains(err.Error(), "outside the container's uid map") {
		t.Errorf("an owner outside the map: %v, want it refused", err)
	}
}

// TestDiffHostile: a link in the upper directory is stored as a link, never
// followed, even to a directory; a name with the whiteout prefix is refused.
func TestDiffHostile(t *testing.T) {
	secret := t.TempDir()
	if err := os.WriteFile(filepath.Join(secret, "shadow"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(secret, filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	out, err := diff(t, dir, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"etc 2 -> " + secret}, tarEntries(t, out)); d != "" {
		t.Errorf("a link to a directory (-want +got):\n%s", d)
	}

	if err := os.WriteFile(filepath.Join(dir, ".wh.passwd"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := diff(t, dir, DiffOptions{}); err == nil || !strings.Contains(err.Error(), "means a deleted file") {
		t.Errorf("a file named .wh.passwd: %v, want it refused", err)
	}
}

// TestCaps: file capabilities the container's root set (version 3, its
// host uid as root id) become version 2; another root's are dropped.
func TestCaps(t *testing.T) {
	maps := []steps.IDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}
	v3 := func(rootid uint32) []byte {
		b := make([]byte, capV3Size)
		binary.LittleEndian.PutUint32(b, capRevision3|1) // effective bit
		binary.LittleEndian.PutUint32(b[4:], 1<<13)      // CAP_NET_RAW permitted
		binary.LittleEndian.PutUint32(b[capV2Size:], rootid)
		return b
	}
	got, ok := caps(v3(100000), maps)
	if !ok || len(got) != capV2Size || binary.LittleEndian.Uint32(got) != capRevision2|1 || binary.LittleEndian.Uint32(got[4:]) != 1<<13 {
		t.Errorf("v3 of the container's root: %x %v, want version 2 with the same sets", got, ok)
	}
	if _, ok := caps(v3(100005), maps); ok {
		t.Error("v3 of the container's uid 5 kept, want dropped")
	}
	if _, ok := caps(v3(0), maps); ok {
		t.Error("v3 of host root (outside the map) kept, want dropped")
	}
	v2 := v3(0)[:capV2Size]
	binary.LittleEndian.PutUint32(v2, capRevision2)
	if got, ok := caps(v2, maps); !ok || !bytes.Equal(got, v2) {
		t.Errorf("v2: %x %v, want kept as it is", got, ok)
	}
}
