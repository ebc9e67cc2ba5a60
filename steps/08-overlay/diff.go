package overlay

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Diff is ApplyLayer run backwards: a container's upper directory, which
// holds what the container changed, becomes a layer tar (mini commit, each
// step of mini build). overlayfs's markers become the tar's:
//
//   - a whiteout, a character device 0:0 named NAME, becomes an empty
//     entry ".wh.NAME" (the file was deleted);
//   - an opaque directory (xattr overlay.opaque = "y", user.* or trusted.*)
//     is followed by an entry ".wh..wh..opq" inside it (nothing below shows
//     through);
//   - owners are shifted back through the container's map: what the
//     container's root made belongs on the host to uid 100000 (step 5's
//     map), and in the layer to uid 0.
//
// The upper directory was written by the container, so it is as hostile
// as any layer: a name in it may be a symbolic link to /etc, swapped in
// while Diff reads. Nothing is opened by a path from the host's root: each
// entry is looked at with fstatat(2) relative to its directory's file
// descriptor, without following a link (AT_SYMLINK_NOFOLLOW), and opened
// with O_NOFOLLOW, then checked with fstat(2) to be what was looked at. A
// link is stored as a link and never followed.

// DiffOptions says how Diff reads an upper directory.
type DiffOptions struct {
	// UIDMap and GIDMap are the container's maps (steps.Spec): an owner N
	// on the host is written as the container's id that maps onto N. Empty:
	// owners are written as they are (a directory made without a user
	// namespace, such as rootfs/busybox or mini build's COPY layer).
	UIDMap, GIDMap []steps.IDMap
}

// Diff writes dir to w as a layer tar: every entry under dir, sorted by
// name so that the same directory makes the same tar (and the same diff
// id), directories before what is in them.
func Diff(w io.Writer, dir string, opt DiffOptions) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	d := &differ{tw: tar.NewWriter(w), opt: opt, links: map[[2]uint64]string{}, buf: make([]byte, 128<<10)}
	if err := d.walk(fd, ""); err != nil {
		return err
	}
	return d.tw.Close()
}

type differ struct {
	tw  *tar.Writer
	opt DiffOptions
	// links maps a file's device and inode to its first name in the tar:
	// a second name of it is written as a hard link.
	links map[[2]uint64]string
	buf   []byte
}

// walk writes the entries of the directory fd, whose name in the layer is
// prefix ("" for the layer's root, "etc/" for /etc). It closes fd.
func (d *differ) walk(fd int, prefix string) error {
	f := os.NewFile(uintptr(fd), prefix)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("getdents %q: %w", "/"+prefix, err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := d.entry(fd, prefix, name); err != nil {
			return fmt.Errorf("%q: %w", short("/"+prefix+name), err)
		}
	}
	return nil
}

// entry writes one entry of the directory dirfd, and what is under it.
func (d *differ) entry(dirfd int, prefix, name string) error {
	if strings.HasPrefix(name, WhiteoutPrefix) {
		// In a layer the name means "delete": kept, it would delete a
		// file where the layer is unpacked, not make one.
		return fmt.Errorf("a file whose name starts with %q cannot go into a layer, where the prefix means a deleted file: refused (rename it)", WhiteoutPrefix)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("fstatat: %w", err)
	}
	hdr, err := d.header(prefix+name, &st)
	if err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			// overlayfs's whiteout: the file was deleted.
			return d.tw.WriteHeader(&tar.Header{Name: prefix + WhiteoutPrefix + name, Typeflag: tar.TypeReg, ModTime: hdr.ModTime})
		}
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		return nil // a tar holds no sockets; docker leaves them out too
	case unix.S_IFLNK:
		target, err := readlink(dirfd, name)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFDIR:
		return d.dir(dirfd, name, hdr, &st)
	case unix.S_IFREG:
		return d.file(dirfd, name, hdr, &st)
	default:
		return fmt.Errorf("unknown file type %#o", st.Mode&unix.S_IFMT)
	}
	return d.tw.WriteHeader(hdr)
}

// header is the tar header of an entry whose lstat is st: its name, mode,
// owner (shifted back through the maps) and modification time. The tar
// writer rounds the time to seconds and leaves atime and ctime out, as
// docker's layers do: the same files, the same tar.
func (d *differ) header(name string, st *unix.Stat_t) (*tar.Header, error) {
	uid, ok := containerID(d.opt.UIDMap, int(st.Uid))
	if !ok {
		return nil, fmt.Errorf("its owner, host uid %d, is outside the container's uid map: the container did not make it: refused", st.Uid)
	}
	gid, ok := containerID(d.opt.GIDMap, int(st.Gid))
	if !ok {
		return nil, fmt.Errorf("its group, host gid %d, is outside the container's gid map: the container did not make it: refused", st.Gid)
	}
	return &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: uid, Gid: gid,
		ModTime: time.Unix(st.Mtim.Unix()),
	}, nil
}

// containerID is the container's id that maps onto the host's id host,
// and whether the map has one; an empty map is no user namespace: the id
// is as it is.
func containerID(maps []steps.IDMap, host int) (int, bool) {
	if len(maps) == 0 {
		return host, true
	}
	for _, m := range maps {
		if host >= m.HostID && host < m.HostID+m.Size {
			return m.ContainerID + host - m.HostID, true
		}
	}
	return 0, false
}

// dir writes a directory, its opaque marker if overlayfs made it opaque
// (the container deleted it and made it again), then what is in it. It is
// opened with O_NOFOLLOW: if the container swapped it for a link after
// fstatat, the open fails rather than following it.
func (d *differ) dir(dirfd int, name string, hdr *tar.Header, st *unix.Stat_t) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("openat: %w", err)
	}
	if err := sameFile(fd, st); err != nil {
		unix.Close(fd)
		return err
	}
	if err := d.xattrs(fd, hdr); err != nil {
		unix.Close(fd)
		return err
	}
	hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
	if err := d.tw.WriteHeader(hdr); err != nil {
		unix.Close(fd)
		return err
	}
	if isOpaque(fd) {
		opq := &tar.Header{Name: hdr.Name + OpaqueWhiteout, Typeflag: tar.TypeReg, ModTime: hdr.ModTime}
		if err := d.tw.WriteHeader(opq); err != nil {
			unix.Close(fd)
			return err
		}
	}
	return d.walk(fd, hdr.Name)
}

// isOpaque reads overlayfs's opaque marker of a directory, in either
// namespace: user.* where the overlay was mounted with userxattr (step 8,
// and mini build), trusted.* where it was not.
func isOpaque(fd int) bool {
	for _, x := range []string{opaqueUser, opaqueTrusted} {
		buf := make([]byte, 8)
		n, err := unix.Fgetxattr(fd, x, buf)
		if err == nil && string(buf[:n]) == "y" {
			return true
		}
	}
	return false
}

// file writes a regular file: as a hard link to a name written before if
// it is the same inode, else its content, read through a descriptor opened
// without following a link (O_NONBLOCK: a fifo swapped in does not hang
// the read) and checked to be the file fstatat saw.
func (d *differ) file(dirfd int, name string, hdr *tar.Header, st *unix.Stat_t) error {
	key := [2]uint64{st.Dev, st.Ino}
	if st.Nlink > 1 {
		if first, ok := d.links[key]; ok {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return d.tw.WriteHeader(hdr)
		}
		d.links[key] = hdr.Name
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("openat: %w", err)
	}
	defer unix.Close(fd)
	if err := sameFile(fd, st); err != nil {
		return err
	}
	if err := d.xattrs(fd, hdr); err != nil {
		return err
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	if err := d.tw.WriteHeader(hdr); err != nil {
		return err
	}
	// Exactly the size the header says: a file the container still
	// changes must not make the tar inconsistent.
	n, err := io.CopyBuffer(d.tw, io.LimitReader(fdReader(fd), st.Size), d.buf)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if n != st.Size {
		return fmt.Errorf("it shrank from %d to %d bytes while it was read: is the container still running?", st.Size, n)
	}
	return nil
}

// sameFile checks that fd is the file whose lstat was st: the same inode,
// the same type.
func sameFile(fd int, st *unix.Stat_t) error {
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if now.Dev != st.Dev || now.Ino != st.Ino || now.Mode&unix.S_IFMT != st.Mode&unix.S_IFMT {
		return errors.New("it changed while it was read: refused")
	}
	return nil
}

// xattrs adds to hdr the extended attributes a layer carries: user.*
// (but overlayfs's own user.overlay.*) and security.capability (file
// capabilities, converted below). overlayfs's trusted.overlay.*, SELinux
// labels and ACLs, which hold host ids, are left out, as docker leaves them.
func (d *differ) xattrs(fd int, hdr *tar.Header) error {
	size, err := unix.Flistxattr(fd, nil)
	if err != nil || size == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	buf := make([]byte, size)
	if size, err = unix.Flistxattr(fd, buf); err != nil {
		return fmt.Errorf("flistxattr: %w", err)
	}
	for _, x := range splitNames(buf[:size]) {
		keep := x == capXattr || strings.HasPrefix(x, "user.") && !strings.HasPrefix(x, "user.overlay.")
		if !keep {
			continue
		}
		vsize, err := unix.Fgetxattr(fd, x, nil)
		if err != nil {
			return fmt.Errorf("fgetxattr %s: %w", x, err)
		}
		val := make([]byte, vsize)
		if vsize, err = unix.Fgetxattr(fd, x, val); err != nil {
			return fmt.Errorf("fgetxattr %s: %w", x, err)
		}
		val = val[:vsize]
		if x == capXattr {
			var ok bool
			if val, ok = caps(val, d.opt.UIDMap); !ok {
				continue
			}
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+x] = string(val)
	}
	return nil
}

// File capabilities (capabilities(7), "File capability extended attribute
// versioning"): version 2 holds the sets; version 3 (Linux 4.14) adds the
// host uid of the root of the user namespace they were set in. What the
// container's root set with setcap is version 3, rootid 100000 seen from
// the host: in the layer it becomes version 2, capabilities for whoever is
// root where the layer is used. Capabilities set for another namespace's
// root are dropped.
const (
	capXattr     = "security.capability"
	capRevision2 = 0x02000000
	capRevision3 = 0x03000000
	capRevMask   = 0xFF000000
	capV2Size    = 20 // magic, then permitted and inheritable, 2 x 2 x 32 bits
	capV3Size    = 24 // and the root id
)

// caps converts one security.capability value for a layer; false drops it.
func caps(val []byte, uidMap []steps.IDMap) ([]byte, bool) {
	if len(val) < 4 {
		return nil, false
	}
	magic := binary.LittleEndian.Uint32(val)
	switch magic & capRevMask {
	case capRevision2:
		return val, len(val) == capV2Size
	case capRevision3:
		if len(val) != capV3Size {
			return nil, false
		}
		root, ok := containerID(uidMap, int(binary.LittleEndian.Uint32(val[capV2Size:])))
		if !ok || root != 0 {
			return nil, false
		}
		out := append([]byte{}, val[:capV2Size]...)
		binary.LittleEndian.PutUint32(out, capRevision2|magic&^capRevMask)
		return out, true
	}
	return nil, false
}

// readlink is readlinkat(2) of name in dirfd.
func readlink(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", fmt.Errorf("readlinkat: %w", err)
	}
	return string(buf[:n]), nil
}

// fdReader reads a file descriptor with read(2).
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(r), p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}
