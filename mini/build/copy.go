package build

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// COPY and ADD, as docker does them:
//
//   - a directory source: what is in it is copied into DEST, not the
//     directory itself;
//   - a file source: DEST is the file, unless DEST ends with / or is a
//     directory in the image: then DEST/NAME;
//   - several sources (or a pattern matching several): DEST must end with /;
//   - DEST relative: under WORKDIR; missing directories are made, 0755;
//   - owner 0:0, or --chown's, for everything copied and every directory
//     made; mode and modification time the context's;
//   - ADD of a tar archive (plain, gzip, bzip2 or zstd) unpacks it into
//     DEST, its owners kept (overlay.ApplyLayer, as hostile as a layer, in
//     bin/mini-image: Options.Unpack).

// copyJob is one COPY or ADD.
type copyJob struct {
	ctx     *buildContext
	srcs    []source
	dest    string // absolute, in the image
	destDir bool   // DEST ended with /
	owner   owner
	add     bool
	unpack  func(archive, dir *os.File) (bool, error) // Options.Unpack
}

// run copies into the scratch mount.
func (j *copyJob) run(s *scratch) error {
	for _, src := range j.srcs {
		if err := j.copySource(s, src); err != nil {
			return fmt.Errorf("%s: %w", src.rel, err)
		}
	}
	return nil
}

func (j *copyJob) copySource(s *scratch, src source) error {
	if j.add && !src.isDir() {
		if isXZ(src.f) {
			return errors.New("an xz archive: mini's ADD unpacks tar, tar.gz, tar.bz2 and tar.zst: decompress it first, or COPY it as it is")
		}
		// Unpacked if it is an archive (Unpack says), into DEST.
		dir, err := s.mkdirAll(j.dest, j.owner)
		if err != nil {
			return err
		}
		unpacked, err := j.unpack(src.f, dir)
		dir.Close()
		if err != nil || unpacked {
			return err
		}
	}
	if src.isDir() {
		dir, err := s.mkdirAll(j.dest, j.owner)
		if err != nil {
			return err
		}
		defer dir.Close()
		return j.tree(int(dir.Fd()), src)
	}
	// A file: into DEST if it is a directory, else as DEST.
	dirPath, name := j.dest, src.base()
	if !j.destDir {
		there, st, err := s.exists(j.dest)
		if err != nil {
			return err
		}
		if !there || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			dirPath, name = path.Dir(j.dest), path.Base(j.dest)
		}
	}
	dir, err := s.mkdirAll(dirPath, j.owner)
	if err != nil {
		return err
	}
	defer dir.Close()
	return j.put(int(dir.Fd()), name, item{st: &src.st, fd: int(src.f.Fd())})
}

// tree copies what is under the directory source src into the directory
// dirfd. (A directory's time is the copy's: what is made in it changes it,
// and docker's classic builder does not keep it either.)
func (j *copyJob) tree(dirfd int, src source) error {
	return j.ctx.items(src, func(it item) error {
		if it.rel == "" {
			return nil // the source directory itself: DEST stands for it
		}
		parent, name := path.Split(it.rel)
		pfd := dirfd
		if parent != "" {
			// Made by this copy a moment ago: no link on the way.
			fd, err := openat2(dirfd, parent, unix.O_PATH|unix.O_DIRECTORY, unix.RESOLVE_BENEATH|unix.RESOLVE_NO_SYMLINKS)
			if err != nil {
				return fmt.Errorf("openat2 %s: %w", parent, err)
			}
			defer unix.Close(fd)
			pfd = fd
		}
		return j.put(pfd, name, it)
	})
}

// put makes name in dirfd as it.
func (j *copyJob) put(dirfd int, name string, it item) error {
	var old unix.Stat_t
	err := unix.Fstatat(dirfd, name, &old, unix.AT_SYMLINK_NOFOLLOW)
	there := err == nil
	oldDir := there && old.Mode&unix.S_IFMT == unix.S_IFDIR
	isDir := it.st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case there && oldDir && !isDir:
		return fmt.Errorf("%s is a directory in the image, and the context has a file there: refused", name)
	case there && !(oldDir && isDir):
		// A file, a link or a device goes: what is copied replaces it.
		if err := unix.Unlinkat(dirfd, name, 0); err != nil {
			return fmt.Errorf("unlinkat %s: %w", name, err)
		}
	}
	o := j.owner
	switch it.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if !oldDir {
			if err := unix.Mkdirat(dirfd, name, 0o700); err != nil {
				return fmt.Errorf("mkdirat %s: %w", name, err)
			}
		}
		if err := unix.Fchownat(dirfd, name, o.uid, o.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		return unix.Fchmodat(dirfd, name, it.st.Mode&0o7777, 0)
	case unix.S_IFLNK:
		if err := unix.Symlinkat(it.link, dirfd, name); err != nil {
			return fmt.Errorf("symlinkat %s: %w", name, err)
		}
		if err := unix.Fchownat(dirfd, name, o.uid, o.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		return unix.UtimesNanoAt(dirfd, name, []unix.Timespec{it.st.Mtim, it.st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("openat %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if err := preadTo(f, it.fd); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	// chown(2) clears setuid and setgid: the mode comes after it.
	if err := unix.Fchown(fd, o.uid, o.gid); err != nil {
		return fmt.Errorf("chown %s: %w", name, err)
	}
	if err := unix.Fchmod(fd, it.st.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	return unix.Futimes(fd, []unix.Timeval{unix.NsecToTimeval(it.st.Mtim.Nano()), unix.NsecToTimeval(it.st.Mtim.Nano())})
}

// xzMagic starts an xz file: docker's ADD unpacks those, mini's does not
// (Go's standard library has no xz).
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

// isXZ says whether f starts with xzMagic.
func isXZ(f *os.File) bool {
	magic := make([]byte, len(xzMagic))
	n, _ := f.ReadAt(magic, 0)
	return bytes.Equal(magic[:n], xzMagic)
}
