package steps

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSendSpec: the spec and the files cross the socket in order, more of
// them than one message may carry (SCM_MAX_FD), and the receiver sees EOF.
func TestSendSpec(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	dir := t.TempDir()
	var files []*os.File
	for i := 0; i < maxFilesPerMessage+3; i++ {
		f, err := os.CreateTemp(dir, "f")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	spec := []byte(`{"id":"0123456789ab","args":["true"]}`)
	done := make(chan error, 1)
	go func() {
		err := sendSpec(fds[0], spec, files)
		unix.Close(fds[0])
		done <- err
	}()
	data, got, err := receiveSpec(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(data) != string(spec) {
		t.Errorf("spec %q, want %q", data, spec)
	}
	if len(got) != len(files) {
		t.Fatalf("%d files, want %d", len(got), len(files))
	}
	for i, fd := range got {
		var a, b unix.Stat_t
		if unix.Fstat(fd, &a) != nil || unix.Fstat(int(files[i].Fd()), &b) != nil || a.Ino != b.Ino {
			t.Errorf("file %d is not the one sent", i)
		}
		unix.Close(fd)
	}
}
