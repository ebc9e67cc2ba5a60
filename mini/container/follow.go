package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Follow calls emit with each entry written to the log of s after offset
// (of the current file, as ReadLog returned it), until the mini that holds
// s has exited, having written its last line. It waits without a loop of
// sleeps: inotify(7) says when the log's directory changes (a write, a
// rotation), and the holder's pidfd becomes readable when it exits; poll(2)
// waits for either.
func Follow(s *State, offset int64, emit func(Entry) error) error {
	path := LogPath(s.Spec.Root, s.ID)
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify_init1: %w", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, filepath.Dir(path), unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		return fmt.Errorf("inotify_add_watch %s: %w", filepath.Dir(path), err)
	}
	// Opened after the watch: what is written from now on is seen.
	holder, err := pidfd(s.Holder)
	if err != nil {
		return err
	}
	if holder >= 0 {
		defer unix.Close(holder)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	for {
		// Read what is there, from the current file and, if the log was
		// rotated meanwhile, from the new one.
		for {
			entries, n, err := readEntries(f, nil)
			if err != nil {
				return err
			}
			if _, err := f.Seek(offset+n, io.SeekStart); err != nil {
				return err
			}
			offset += n
			for _, e := range entries {
				if err := emit(e); err != nil {
					return err
				}
			}
			if !rotated(f, path) {
				break
			}
			nf, err := os.Open(path)
			if err != nil {
				return err
			}
			f.Close()
			f, offset = nf, 0
		}
		if holder < 0 {
			return nil // its last line is read
		}
		fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}, {Fd: int32(holder), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
		if fds[1].Revents != 0 {
			unix.Close(holder)
			holder = -1 // one more round reads what it wrote last
		}
		drain(in)
	}
}

// rotated says whether path is no longer the file f is.
func rotated(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Ino != b.Ino || a.Dev != b.Dev
}

// drain reads the pending inotify events: only their arrival matters.
func drain(fd int) {
	buf := make([]byte, 4096)
	for {
		if n, err := unix.Read(fd, buf); n <= 0 || err != nil {
			return
		}
	}
}
