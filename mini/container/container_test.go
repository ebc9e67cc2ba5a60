package container

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mini/steps"
)

func newSpec(root, id, name string) *steps.Spec {
	return &steps.Spec{ID: id, Name: name, Root: root, Args: []string{"true"}}
}

// TestRecordListFind: Record writes a state that List reads back, Find
// finds by id, name and unique prefix, and a name is taken.
func TestRecordListFind(t *testing.T) {
	root := t.TempDir()
	for _, c := range [][2]string{{"aaaa00000001", "aaaa00000001"}, {"aaaa00000002", "web"}, {"bbbb00000003", "bbbb00000003"}} {
		s, err := Create(newSpec(root, c[0], c[1]), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Record(); err != nil {
			t.Fatal(err)
		}
	}
	all, err := List(root)
	if err != nil || len(all) != 3 {
		t.Fatalf("List: %d states, %v", len(all), err)
	}
	for ref, want := range map[string]string{
		"aaaa00000001": "aaaa00000001", "web": "aaaa00000002", "/web": "aaaa00000002", "bbb": "bbbb00000003",
	} {
		s, err := match(all, ref)
		if err != nil || s.ID != want {
			t.Errorf("match(%q) = %v, %v; want %s", ref, s, err, want)
		}
	}
	for ref, msg := range map[string]string{"aaaa": "multiple containers", "cc": "No such container: cc", "": "No such container"} {
		if _, err := match(all, ref); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("match(%q): %v, want %q", ref, err, msg)
		}
	}
	_, err = Create(newSpec(root, "cccc00000004", "web"), false)
	if err == nil || !strings.Contains(err.Error(), `The container name "/web" is already in use by container "aaaa00000002"`) {
		t.Errorf("a second web: %v", err)
	}
	if _, err := os.Stat(Dir(root, "cccc00000004")); !os.IsNotExist(err) {
		t.Errorf("the refused container left its directory: %v", err)
	}
}

// TestSweep: the directory of a Record cut short by a kill is removed when
// the mini it names is gone, and kept while it runs.
func TestSweep(t *testing.T) {
	root := t.TempDir()
	me, _ := steps.Self()
	containers := filepath.Join(root, "containers")
	gone := filepath.Join(containers, newDir("dead00000000", steps.Owner{PID: 1 << 30, Start: 1}))
	alive := filepath.Join(containers, newDir("live00000000", me))
	for _, d := range []string{gone, alive} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := List(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("%s: not swept", gone)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("%s: swept while its mini runs", alive)
	}
}

// TestDiscard: a container that never started leaves nothing, not even the
// directories made for it.
func TestDiscard(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	s, err := Create(newSpec(root, "dddd00000001", "named"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	// --root itself is mini's state directory, made once as the engine
	// makes it (steps.MakeRoot); what this container made under it goes.
	if _, err := os.Stat(filepath.Join(root, "containers")); !os.IsNotExist(err) {
		t.Errorf("%s/containers is left: %v", root, err)
	}
}

// TestLog: lines become json-file entries, a long line is split, the file
// is rotated at its cap, and ReadLog reads both files in order.
func TestLog(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(Dir(root, "eeee00000001"), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := CreateLog(root, "eeee00000001", 400)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", maxLine+10)
	if err := w.Copy("stdout", strings.NewReader("one\ntwo\n"+long+"\nno newline")); err != nil {
		t.Fatal(err)
	}
	if err := w.Copy("stderr", strings.NewReader("err\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	entries, _, err := ReadLog(root, "eeee00000001")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Stream+":"+e.Log)
		if time.Since(e.Time) > time.Minute || e.Time.Location() != time.UTC {
			t.Errorf("entry time %v", e.Time)
		}
	}
	// The cap (400 bytes) let the last file hold the last lines only: the
	// .1 before it holds what came just before.
	want := []string{"stdout:" + long[:maxLine], "stdout:xxxxxxxxxx\n", "stdout:no newline", "stderr:err\n"}
	if len(got) < len(want) || strings.Join(got[len(got)-len(want):], "|") != strings.Join(want, "|") {
		t.Errorf("entries end with %q..., want %q", got, want)
	}
	if _, err := os.Stat(LogPath(root, "eeee00000001") + ".1"); err != nil {
		t.Errorf("no rotated file: %v", err)
	}
}

// TestFollow: Follow prints what is written after it started, and returns
// once the holder has exited.
func TestFollow(t *testing.T) {
	root := t.TempDir()
	id := "ffff00000001"
	if err := os.MkdirAll(Dir(root, id), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := CreateLog(root, id, DefaultLogMax)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Copy("stdout", strings.NewReader("before\n"))
	holder := exec.Command("sleep", "0.3")
	if err := holder.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	go holder.Wait()
	start, err := steps.ProcessStart(holder.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	s := &State{ID: id, Holder: steps.Owner{PID: holder.Process.Pid, Start: start}, Spec: newSpec(root, id, id)}
	_, offset, err := ReadLog(root, id)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		w.Copy("stderr", strings.NewReader("after\n"))
	}()
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- Follow(s, offset, func(e Entry) error { got = append(got, e.Stream+":"+e.Log); return nil })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after its holder exited")
	}
	if strings.Join(got, "|") != "stderr:after\n" {
		t.Errorf("Follow saw %q, want the line written after it started", got)
	}
}
