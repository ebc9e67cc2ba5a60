package overlay

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// The fallback when a layer cannot be idmapped: a copy of it whose owners
// are shifted through the container's map, as docker's userns-remap keeps a
// copy of each image for the remapped root. Host uid N becomes the host uid
// the container's uid N is: 0 becomes 100000 with the default map. It is
// made once per layer and map, under <root>/shifted, and reused by every
// container with the same map; it costs the disk space and the time of a
// copy, which an idmapped mount does not. rm -r <root>/shifted frees it.

// shiftedCopy returns the shifted copy of layer for the spec's maps,
// making it if there is none yet.
func shiftedCopy(ctx *steps.Context, layer string) (string, error) {
	s := ctx.Spec
	dir := filepath.Join(s.Root, "shifted", shiftKey(layer, s.UIDMap, s.GIDMap))
	if _, err := os.Lstat(dir); err == nil {
		ctx.Tracef("shifted copy of %s: %s (made before)", layer, dir)
		return dir, nil
	}
	if err := mkdirPrivate(ctx, filepath.Dir(dir)); err != nil {
		return "", err
	}
	// Copied under a name of this run's, then renamed into place: a copy
	// cut short is never taken for a whole one, and two runs that make it
	// at once both end up using one.
	tmp := dir + ".tmp-" + s.ID
	ctx.Tracef("cp -a %s %s, owners shifted by the container's map", layer, dir)
	if err := copyShifted(layer, tmp, s); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("shifted copy of %s: %w", layer, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Lstat(dir); statErr != nil {
			return "", fmt.Errorf("rename %s: %w", tmp, err)
		}
	}
	return dir, nil
}

// shiftKey names a layer's shifted copy: the same layer and maps, the same
// copy.
func shiftKey(layer string, uids, gids []steps.IDMap) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%v\x00%v", layer, uids, gids)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// copyShifted copies the tree src to dst: every file, directory, symlink,
// device, fifo and hard link, with its mode (setuid bits too), times and
// extended attributes, owned by host id shifted through the maps.
func copyShifted(src, dst string, s *steps.Spec) error {
	links := map[uint64]string{} // inode -> first copy, for hard links
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return fmt.Errorf("lstat %s: %w", path, err)
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if first, ok := links[st.Ino]; ok {
				return os.Link(first, to)
			}
			links[st.Ino] = to
		}
		if err := copyOne(path, to, &st); err != nil {
			return err
		}
		uid, gid := s.HostUID(int(st.Uid)), s.HostGID(int(st.Gid))
		if err := unix.Lchown(to, uid, gid); err != nil {
			return fmt.Errorf("lchown %s: %w", to, err)
		}
		if err := copyXattrs(path, to); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			// chown(2) clears setuid and setgid: set the mode after it.
			if err := unix.Chmod(to, st.Mode&0o7777); err != nil {
				return fmt.Errorf("chmod %s: %w", to, err)
			}
		}
		times := []unix.Timespec{st.Atim, st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, to, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("utimensat %s: %w", to, err)
		}
		return nil
	})
}

// copyOne makes to as a copy of path, whose lstat is st, without owner,
// mode bits beyond the type, or times: copyShifted sets those after.
func copyOne(path, to string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return os.Mkdir(to, 0o700)
	case unix.S_IFLNK:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		return os.Symlink(target, to)
	case unix.S_IFREG:
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		return errors.Join(err, out.Close())
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		// A socket is a name only: mknod makes one that nothing listens on.
		return unix.Mknod(to, st.Mode&unix.S_IFMT|0o600, int(st.Rdev))
	}
	return fmt.Errorf("%s: unknown file type %#o", path, st.Mode&unix.S_IFMT)
}

// copyXattrs copies every extended attribute of path to to: overlayfs's
// own markers (an opaque directory) and file capabilities among them.
func copyXattrs(path, to string) error {
	size, err := unix.Llistxattr(path, nil)
	if err != nil || size == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(path, buf)
	if err != nil {
		return err
	}
	for _, name := range splitNames(buf[:size]) {
		vsize, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return fmt.Errorf("getxattr %s %s: %w", path, name, err)
		}
		val := make([]byte, vsize)
		if vsize, err = unix.Lgetxattr(path, name, val); err != nil {
			return fmt.Errorf("getxattr %s %s: %w", path, name, err)
		}
		if err := unix.Lsetxattr(to, name, val[:vsize], 0); err != nil {
			return fmt.Errorf("setxattr %s %s: %w", to, name, err)
		}
	}
	return nil
}

// splitNames splits listxattr(2)'s NUL-terminated names.
func splitNames(buf []byte) []string {
	var names []string
	start := 0
	for i, b := range buf {
		if b == 0 {
			if i > start {
				names = append(names, string(buf[start:i]))
			}
			start = i + 1
		}
	}
	return names
}
