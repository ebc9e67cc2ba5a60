package overlay

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ApplyOptions says what ApplyLayer may do.
type ApplyOptions struct {
	// Rootless: mini runs as a user without root. Owners are not kept (the
	// files are the caller's, which its containers' root is), device nodes
	// other than whiteouts are skipped, and so are xattrs the kernel refuses
	// to such a user (trusted.*, security.capability).
	Rootless bool
	// Warn prints a line the user must see. Each kind of thing skipped is
	// reported once per layer, not once per file.
	Warn func(format string, args ...any)
	// Archive: r is a plain archive (mini build's ADD unpacks one into the
	// image), not a layer: a ".wh." name there is refused, not taken for a
	// deletion.
	Archive bool
}

// Limits a tar entry's name must stay within: the kernel's PATH_MAX and
// NAME_MAX (limits.h). A longer name is refused before any system call.
const (
	maxPath = 4096
	maxName = 255
)

// ApplyLayer unpacks one image layer, r, an uncompressed tar (the OCI image
// spec's "layer changeset"), into dir, an empty directory that becomes one
// of overlayfs's lower layers. It reads r to its end, so that a caller that
// hashes r sees every byte (the layer's diff id is the hash of all of it).
//
// The layer is hostile until proven otherwise. Every entry lands inside dir
// or the whole layer is refused: a name that is absolute or has a ".."
// component, an entry under a parent that is a symbolic link (it could point
// anywhere: the kernel refuses to follow it, openat2(2) RESOLVE_NO_SYMLINKS
// and RESOLVE_BENEATH), a hard link to a file outside the layer. Nothing is
// ever opened by a path from the host's root: every file is made relative to
// a directory file descriptor inside dir.
//
// Owners, modes (setuid, setgid and sticky included), times and xattrs are
// kept. Whiteouts become overlayfs's own: ".wh.NAME" a character device 0:0
// named NAME, ".wh..wh..opq" the overlay.opaque xattr on its directory. On
// error, dir holds a part of the layer: the caller removes it.
func ApplyLayer(r io.Reader, dir string, opt ApplyOptions) error {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	a := &applier{root: root, opt: opt, dirs: map[string]*tar.Header{},
		warned: map[string]bool{}, cached: -1, buf: make([]byte, 128<<10)}
	defer a.close()

	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read the layer's tar: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return fmt.Errorf("layer entry %q: %w", short(hdr.Name), err)
		}
	}
	if err := a.finishDirs(); err != nil {
		return err
	}
	// The end-of-archive blocks and any padding after them.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("read the layer's tar: %w", err)
	}
	return nil
}

// applier is one ApplyLayer at work.
type applier struct {
	root int // O_PATH descriptor of the layer's directory
	opt  ApplyOptions
	// dirs are the directory entries, by clean path ("." is the layer's
	// root): their owner, mode and times are set once every entry is in,
	// since adding an entry changes a directory's mtime, and a directory
	// the tar makes read-only must stay writable until then.
	dirs   map[string]*tar.Header
	warned map[string]bool
	// The directory of the last entry: entries come directory by directory,
	// so most need no new openat2.
	cachedPath string
	cached     int
	buf        []byte
}

func (a *applier) close() {
	a.forget()
	unix.Close(a.root)
}

// entry applies one tar entry.
func (a *applier) entry(hdr *tar.Header, tr io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the layer's root must be a directory")
		}
		a.dirs["."] = hdr
		return nil
	}
	parent, base := path.Split(name)
	parent = path.Clean(parent)
	if strings.HasPrefix(base, WhiteoutPrefix) {
		if a.opt.Archive {
			return fmt.Errorf("in a layer the prefix %q means a deleted file, and the archive's file would become one: refused (rename it)", WhiteoutPrefix)
		}
		return a.whiteout(parent, base)
	}
	dirfd, err := a.dir(parent, true)
	if err != nil {
		return err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(dirfd, base, name, hdr)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		return a.file(dirfd, base, name, hdr, tr)
	case tar.TypeSymlink:
		if strings.IndexByte(hdr.Linkname, 0) >= 0 || len(hdr.Linkname) >= maxPath {
			return errors.New("the symbolic link's target is not a path")
		}
		// The target is not checked: a link is followed inside the
		// container, whose root is the overlay, and never here.
		err := a.make(dirfd, base, name, func() error { return unix.Symlinkat(hdr.Linkname, dirfd, base) })
		if err != nil {
			return fmt.Errorf("symlinkat: %w", err)
		}
		return a.meta(dirfd, base, -1, hdr)
	case tar.TypeLink:
		return a.hardlink(dirfd, base, name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.node(dirfd, base, name, hdr)
	case tar.TypeXGlobalHeader:
		return nil
	}
	return fmt.Errorf("entry type %q is none of file, directory, link, device or fifo: refused", hdr.Typeflag)
}

// cleanName checks a tar entry's name and cleans it: "./usr//bin/" is
// "usr/bin", "./" is ".", and so is "/", which umoci writes for the layer's
// root. A name that could leave the layer is refused rather than cleaned,
// since a layer that tries is not one to trust.
func cleanName(name string) (string, error) {
	switch {
	case strings.Trim(name, "/") == "" && name != "":
		return ".", nil
	case strings.IndexByte(name, 0) >= 0:
		return "", errors.New("the name holds a NUL byte: refused")
	case strings.HasPrefix(name, "/"):
		return "", errors.New("absolute path: a layer's paths are relative to its root: refused")
	case len(name) >= maxPath:
		return "", fmt.Errorf("the name is %d bytes long, PATH_MAX is %d: refused", len(name), maxPath)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`a ".." component would leave the layer: refused`)
		}
		if len(c) > maxName {
			return "", fmt.Errorf("a component is %d bytes long, NAME_MAX is %d: refused", len(c), maxName)
		}
	}
	return path.Clean(name), nil
}

// dir returns a descriptor of the layer's directory p, a clean relative
// path, for the *at system calls. openat2(2) resolves it inside the layer
// only: RESOLVE_BENEATH refuses to leave it, RESOLVE_NO_SYMLINKS to follow a
// symbolic link on the way (a layer may put a link where a directory was:
// "etc -> /etc", then "etc/passwd"). Directories missing on the way are made
// when create is set, as tar does. The descriptor stays the applier's.
func (a *applier) dir(p string, create bool) (int, error) {
	if p == "." {
		return a.root, nil
	}
	if p == a.cachedPath {
		return a.cached, nil
	}
	fd, err := a.openat2(a.root, p, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) && create {
		fd, err = a.mkdirs(p)
	}
	if err != nil {
		return -1, err
	}
	a.forget()
	a.cachedPath, a.cached = p, fd
	return fd, nil
}

// openat2 opens p under dirfd, never leaving the layer nor following a
// symbolic link, and explains a refusal.
func (a *applier) openat2(dirfd int, p string, flags int) (int, error) {
	fd, err := unix.Openat2(dirfd, p, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	switch {
	case err == nil:
		return fd, nil
	case errors.Is(err, unix.ELOOP):
		return -1, fmt.Errorf("openat2 %q: it is under a symbolic link, which could point outside the layer: refused", p)
	case errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("openat2 %q: a parent of it is not a directory: refused", p)
	case errors.Is(err, unix.EXDEV):
		return -1, fmt.Errorf("openat2 %q: it leaves the layer: refused", p)
	case errors.Is(err, unix.ENOSYS):
		return -1, errors.New("openat2: this kernel has none (Linux 5.6 added it): upgrade the kernel to unpack images")
	}
	return -1, fmt.Errorf("openat2 %q: %w", p, err)
}

// mkdirs makes the missing directories of p, one component at a time, each
// opened as it is made. A tar usually lists every directory before what is
// in it; one that does not gets docker's default, 0755 and root's.
func (a *applier) mkdirs(p string) (int, error) {
	fd, err := unix.Dup(a.root)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(p, "/") {
		if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return -1, fmt.Errorf("mkdirat %q: %w", p, err)
		}
		next, err := a.openat2(fd, c, unix.O_PATH|unix.O_DIRECTORY)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// forget closes the cached directory: after an entry is replaced, or at the end.
func (a *applier) forget() {
	if a.cached >= 0 {
		unix.Close(a.cached)
	}
	a.cachedPath, a.cached = "", -1
}

// make runs create, which makes base in dirfd; if something of that name is
// there already (a tar may list a name twice: the last one wins), it is
// removed and create runs again.
func (a *applier) make(dirfd int, base, name string, create func() error) error {
	err := create()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if err := a.remove(dirfd, base, name); err != nil {
		return err
	}
	return create()
}

// remove removes base from dirfd: a file, a link, a device or an empty
// directory. A layer that replaces a directory it filled itself is refused.
func (a *applier) remove(dirfd int, base, name string) error {
	err := unix.Unlinkat(dirfd, base, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(dirfd, base, unix.AT_REMOVEDIR)
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return errors.New("it replaces a directory the layer filled: refused")
		}
		delete(a.dirs, name)
		if name == a.cachedPath {
			a.forget()
		}
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unlinkat: %w", err)
	}
	return nil
}

// mkdir makes a directory, or keeps the one there (a tar lists a directory
// again to give it other metadata). Its metadata waits for finishDirs.
func (a *applier) mkdir(dirfd int, base, name string, hdr *tar.Header) error {
	err := unix.Mkdirat(dirfd, base, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			a.dirs[name] = hdr
			return nil
		}
		err = a.make(dirfd, base, name, func() error { return unix.Mkdirat(dirfd, base, 0o700) })
	}
	if err != nil {
		return fmt.Errorf("mkdirat: %w", err)
	}
	a.dirs[name] = hdr
	return nil
}

// file writes a regular file: created exclusive and without following a
// link (O_EXCL|O_NOFOLLOW), filled, then given its owner, mode, xattrs and
// times, in that order: chown(2) clears the setuid and setgid bits and the
// file capabilities (security.capability), so those come after it.
func (a *applier) file(dirfd int, base, name string, hdr *tar.Header, tr io.Reader) error {
	var fd int
	err := a.make(dirfd, base, name, func() (err error) {
		fd, err = unix.Openat(dirfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("openat: %w", err)
	}
	defer unix.Close(fd)
	if _, err := io.CopyBuffer(fdWriter(fd), tr, a.buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return a.meta(dirfd, base, fd, hdr)
}

// fdWriter writes to a file descriptor with write(2), without an os.File.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// hardlink links name to the file hdr.Linkname of this same layer, with
// linkat(2): the target is resolved like any entry, inside the layer and not
// through a symbolic link, so a link can never reach a file outside it.
func (a *applier) hardlink(dirfd int, base, name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if target == name || target == "." {
		return errors.New("a hard link to itself or to the layer's root: refused")
	}
	tparent, tbase := path.Split(target)
	tdir, err := a.openat2(a.root, path.Clean(tparent), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	defer unix.Close(tdir)
	if err := unix.Fstatat(tdir, tbase, new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hard link target %q is not in the layer: refused", short(hdr.Linkname))
	}
	// Flags 0: a link to a symbolic link links the link itself.
	err = a.make(dirfd, base, name, func() error { return unix.Linkat(tdir, tbase, dirfd, base, 0) })
	if err != nil {
		return fmt.Errorf("linkat: %w", err)
	}
	return nil // the target's metadata is the link's: they are one inode
}

// node makes a device or a fifo with mknodat(2). A user without root may
// not make devices (mknod(2), CAP_MKNOD): those are skipped, once said.
func (a *applier) node(dirfd int, base, name string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if a.opt.Rootless && mode != unix.S_IFIFO && !(mode == unix.S_IFCHR && dev == whiteoutDev) {
		a.warn("devices", "device nodes skipped (%q and others): a user without root may not make them", name)
		return nil
	}
	err := a.make(dirfd, base, name, func() error { return unix.Mknodat(dirfd, base, mode|0o600, dev) })
	if err != nil {
		return fmt.Errorf("mknodat: %w", err)
	}
	return a.meta(dirfd, base, -1, hdr)
}

// whiteout turns a ".wh." entry into overlayfs's marker, in the layer's
// directory parent.
func (a *applier) whiteout(parent, base string) error {
	dirfd, err := a.dir(parent, true)
	if err != nil {
		return err
	}
	if base == OpaqueWhiteout {
		return a.opaque(parent)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // AUFS's own bookkeeping
	}
	victim := strings.TrimPrefix(base, WhiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return errors.New("a whiteout of no file: refused")
	}
	// A character device 0:0 of the deleted file's name hides it in every
	// layer below (overlayfs.rst, "whiteouts and opaque directories").
	name := path.Join(parent, victim)
	err = a.make(dirfd, victim, name, func() error { return unix.Mknodat(dirfd, victim, unix.S_IFCHR, whiteoutDev) })
	if err != nil {
		return fmt.Errorf("mknodat %q c 0 0 (a whiteout): %w", name, err)
	}
	return nil
}

// opaque marks the directory p opaque: it hides whatever the layers below
// have in it. Step 8 mounts the overlay with "userxattr" in the container's
// user namespace, where overlayfs reads user.overlay.opaque; as root, mini
// writes trusted.overlay.opaque too, which an overlay mounted without
// "userxattr" (as docker mounts it) reads, so the layer works either way.
func (a *applier) opaque(p string) error {
	fd, err := a.openat2(a.root, p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	names := []string{opaqueUser}
	if !a.opt.Rootless {
		names = append(names, opaqueTrusted)
	}
	for _, x := range names {
		if err := unix.Fsetxattr(fd, x, []byte("y"), 0); err != nil {
			return fmt.Errorf("setxattr %q %s (an opaque directory): %w", p, x, err)
		}
	}
	return nil
}

// meta gives base its owner, mode, xattrs and times. fd is base opened, or
// -1: then base is a link or a device, whose xattrs are not kept.
func (a *applier) meta(dirfd int, base string, fd int, hdr *tar.Header) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	if !a.opt.Rootless {
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
		} else {
			err = unix.Fchownat(dirfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	if !isLink { // a symbolic link has no mode of its own
		mode := uint32(hdr.Mode & 0o7777)
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = unix.Fchmodat(dirfd, base, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod %#o: %w", mode, err)
		}
	}
	if err := a.xattrs(fd, hdr); err != nil {
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime(hdr).UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("utimensat: %w", err)
	}
	return nil
}

// xattrs sets the extended attributes the tar carries (PAX records
// SCHILY.xattr.NAME). overlayfs's own (trusted.overlay.*, user.overlay.*)
// are dropped: on disk they are overlayfs's markers, and a layer says what
// it deletes with .wh. entries only. What the kernel refuses (trusted.* and
// security.capability to a user without root, a namespace the filesystem
// lacks) is skipped and said once.
func (a *applier) xattrs(fd int, hdr *tar.Header) error {
	var names []string
	for k := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			names = append(names, x)
		}
	}
	sort.Strings(names)
	for _, x := range names {
		if strings.HasPrefix(x, "trusted.overlay.") || strings.HasPrefix(x, "user.overlay.") {
			continue
		}
		if fd < 0 {
			a.warn("xattr-link", "xattrs of links and devices are not kept (%s on %q)", x, hdr.Name)
			continue
		}
		err := unix.Fsetxattr(fd, x, []byte(hdr.PAXRecords["SCHILY.xattr."+x]), 0)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EACCES) {
			a.warn("xattr "+x, "xattr %s not kept (%q and maybe others): %v", x, hdr.Name, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("setxattr %s: %w", x, err)
		}
	}
	return nil
}

// finishDirs gives every directory its owner, mode, xattrs and times, the
// deepest first, now that nothing more will be made in them.
func (a *applier) finishDirs() error {
	a.forget()
	names := make([]string, 0, len(a.dirs))
	for name := range a.dirs {
		names = append(names, name)
	}
	depth := func(name string) int {
		if name == "." {
			return -1
		}
		return strings.Count(name, "/")
	}
	sort.Slice(names, func(i, j int) bool { return depth(names[i]) > depth(names[j]) })
	for _, name := range names {
		parent, base := path.Split(name)
		if name == "." {
			parent, base = ".", "."
		}
		dirfd, err := a.openat2(a.root, path.Clean(parent), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", short(name), err)
		}
		fd, err := a.openat2(dirfd, base, unix.O_RDONLY|unix.O_DIRECTORY)
		if err == nil {
			err = a.meta(dirfd, base, fd, a.dirs[name])
			unix.Close(fd)
		}
		unix.Close(dirfd)
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", short(name), err)
		}
	}
	return nil
}

// warn says once per kind of thing what was skipped.
func (a *applier) warn(kind, format string, args ...any) {
	if a.warned[kind] || a.opt.Warn == nil {
		return
	}
	a.warned[kind] = true
	a.opt.Warn(format, args...)
}

// atime is the access time of an entry: its own (a PAX record), or its
// modification time.
func atime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

// short keeps a hostile name printable on one line of an error.
func short(name string) string {
	if len(name) > 80 {
		return name[:40] + "..." + name[len(name)-20:]
	}
	return name
}
