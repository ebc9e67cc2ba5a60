package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// The build context is the directory mini build is given: COPY and ADD
// read from it and from nothing else. It is the user's, but what is in it
// may come from anywhere (a clone of someone's repository), so it is read
// as a layer is: a symbolic link in it never leads outside it. A source
// named on a COPY line is resolved with openat2(2) RESOLVE_IN_ROOT, the
// context as its root (a link to /etc/shadow leads to <context>/etc/shadow,
// as docker's FollowSymlinkInScope does); what is under a directory is read
// with *at calls and O_NOFOLLOW, and a link there is copied as a link. A
// source with a ".." that climbs out of the context is refused.

// buildContext is the context directory, opened.
type buildContext struct {
	dir    string
	fd     int // O_PATH
	ignore ignore
}

// openContext opens dir and reads its .dockerignore.
func openContext(dir string) (*buildContext, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the build context %s: %w", dir, err)
	}
	c := &buildContext{dir: dir, fd: fd}
	f, err := openInRoot(fd, ".dockerignore", unix.O_RDONLY)
	if errors.Is(err, unix.ENOENT) {
		return c, nil
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s/.dockerignore: %w", dir, err)
	}
	defer f.Close()
	if c.ignore, err = parseIgnore(io.LimitReader(f, 1<<20)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s/%w", dir, err)
	}
	return c, nil
}

func (c *buildContext) close() { unix.Close(c.fd) }

// openInRoot opens p beneath dirfd as if dirfd were /, following links
// only inside it (openat2(2) RESOLVE_IN_ROOT, no magic links).
func openInRoot(dirfd int, p string, flags int) (*os.File, error) {
	fd, err := openat2(dirfd, p, flags, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// openat2 retries on EAGAIN, which the kernel returns when a rename raced
// the lookup.
func openat2(dirfd int, p string, flags int, resolve uint64) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve}
	for {
		fd, err := unix.Openat2(dirfd, p, how)
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// source is one thing a COPY or ADD copies: a file, a directory or a link
// of the context, opened.
type source struct {
	rel string // its path in the context, as the instruction named it: "." for all of it
	f   *os.File
	st  unix.Stat_t
}

func (s source) isDir() bool { return s.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// base is the name a file source gets in a destination directory.
func (s source) base() string { return path.Base(s.rel) }

// sources finds what the source arguments of a COPY or ADD name: paths,
// or patterns (*, ?, [...]) matched against every path of the context,
// .dockerignore's left out. The caller closes them.
func (c *buildContext) sources(args []string) ([]source, error) {
	var out []source
	closeAll := func() {
		for _, s := range out {
			s.f.Close()
		}
	}
	for _, arg := range args {
		// An absolute source is relative to the context, as in docker.
		rel := path.Clean(strings.TrimLeft(arg, "/"))
		if rel == ".." || strings.HasPrefix(rel, "../") {
			closeAll()
			return nil, fmt.Errorf("%s: outside the build context: refused (docker: forbidden path outside the build context)", arg)
		}
		names := []string{rel}
		if strings.ContainsAny(rel, "*?[") {
			var err error
			if names, err = c.glob(rel); err != nil {
				closeAll()
				return nil, err
			}
			if len(names) == 0 {
				closeAll()
				return nil, fmt.Errorf("%s: no file in the build context matches (or .dockerignore leaves them out)", arg)
			}
		}
		for _, name := range names {
			s, err := c.open(name)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("%s: %w", arg, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// open opens a source by its path in the context. The last link on the
// way is followed too, inside the context.
func (c *buildContext) open(rel string) (source, error) {
	s := source{rel: rel}
	if rel != "." && c.ignore.excluded(rel) {
		return s, errors.New("no such file in the build context (.dockerignore leaves it out)")
	}
	f, err := openInRoot(c.fd, rel, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return s, errors.New("no such file or directory in the build context")
	}
	if err != nil {
		return s, fmt.Errorf("openat2 (RESOLVE_IN_ROOT): %w", err)
	}
	defer f.Close()
	if err := unix.Fstat(int(f.Fd()), &s.st); err != nil {
		return s, fmt.Errorf("fstat: %w", err)
	}
	// Reopened for reading through the very file found: /proc/self/fd/N.
	flags := unix.O_RDONLY | unix.O_NONBLOCK
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		flags |= unix.O_DIRECTORY
	case unix.S_IFREG:
	default:
		return s, errors.New("not a file nor a directory: mini copies files, directories and links")
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return s, fmt.Errorf("open: %w", err)
	}
	s.f = os.NewFile(uintptr(fd), rel)
	return s, nil
}

// glob lists the paths of the context that pattern matches, sorted; its *
// does not cross a /. Links are not followed on the way.
func (c *buildContext) glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%s: %v", pattern, err)
	}
	want := strings.Split(pattern, "/")
	var out []string
	err := walkDir(c.fd, ".", func(rel string, st *unix.Stat_t) (bool, error) {
		if c.ignore.excluded(rel) {
			return false, nil
		}
		segs := strings.Split(rel, "/")
		if len(segs) == len(want) && matchSegs(want, segs) {
			out = append(out, rel)
		}
		// Deeper paths can match only while there are segments left.
		return len(segs) < len(want), nil
	})
	return out, err
}

// walkDir calls fn for each entry under the directory dir of dirfd, in
// name order, with its path relative to the walk's start ("a/b"); fn says
// whether to go into a directory. Nothing is followed.
func walkDir(dirfd int, dir string, fn func(rel string, st *unix.Stat_t) (bool, error)) error {
	var walk func(fd int, prefix string) error
	walk = func(fd int, prefix string) error {
		f := os.NewFile(uintptr(fd), prefix)
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("getdents %s: %w", prefix, err)
		}
		sort.Strings(names)
		for _, name := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("fstatat %s: %w", prefix+name, err)
			}
			into, err := fn(prefix+name, &st)
			if err != nil {
				return err
			}
			if !into || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("openat %s: %w", prefix+name, err)
			}
			if err := walk(sub, prefix+name+"/"); err != nil {
				return err
			}
		}
		return nil
	}
	fd, err := unix.Openat(dirfd, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("openat %s: %w", dir, err)
	}
	return walk(fd, "")
}

// item is one thing to copy: a source, or an entry under a directory
// source.
type item struct {
	rel  string // under the source: "" for the source itself, "a/b" below it
	st   *unix.Stat_t
	fd   int    // an open file or directory; -1 for a link
	link string // a link's target
}

// items calls fn for the source and, for a directory, everything under it
// that .dockerignore does not leave out, in name order, parents first. A
// directory's fd is open only during its own call.
func (c *buildContext) items(s source, fn func(item) error) error {
	if err := fn(item{st: &s.st, fd: int(s.f.Fd())}); err != nil || !s.isDir() {
		return err
	}
	var walk func(fd int, prefix string) error
	walk = func(fd int, prefix string) error {
		// A new open file description (not dup(2), which shares the
		// offset that the digest's walk of the same directory moved).
		dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("openat %s/%s: %w", s.rel, prefix, err)
		}
		d := os.NewFile(uintptr(dup), prefix)
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return fmt.Errorf("getdents %s/%s: %w", s.rel, prefix, err)
		}
		sort.Strings(names)
		for _, name := range names {
			rel := prefix + name
			if s.rel == "." && c.ignore.excluded(rel) || s.rel != "." && c.ignore.excluded(s.rel+"/"+rel) {
				continue
			}
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("fstatat %s: %w", rel, err)
			}
			it := item{rel: rel, st: &st, fd: -1}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFLNK:
				buf := make([]byte, unix.PathMax)
				n, err := unix.Readlinkat(fd, name, buf)
				if err != nil {
					return fmt.Errorf("readlinkat %s: %w", rel, err)
				}
				it.link = string(buf[:n])
				if err := fn(it); err != nil {
					return err
				}
				continue
			case unix.S_IFDIR, unix.S_IFREG:
			default:
				return fmt.Errorf("%s/%s: not a file, a directory nor a link: mini copies only those", s.rel, rel)
			}
			flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				flags |= unix.O_DIRECTORY
			}
			if it.fd, err = unix.Openat(fd, name, flags, 0); err != nil {
				return fmt.Errorf("openat %s: %w", rel, err)
			}
			err := fn(it)
			if err == nil && flags&unix.O_DIRECTORY != 0 {
				err = walk(it.fd, rel+"/")
			}
			unix.Close(it.fd)
			if err != nil {
				return err
			}
		}
		return nil
	}
	return walk(int(s.f.Fd()), "")
}

// digest is the sha256 of what the sources are: each item's path, type,
// mode, link target and content. It is in the step's history ("COPY
// file:<digest> in /app"), and so in the cache's key: a file changed, added,
// removed or chmod'ed makes another step; a changed time does not (docker's
// rule too).
func (c *buildContext) digest(srcs []source) (string, error) {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "source %s\n", s.rel)
		err := c.items(s, func(it item) error {
			fmt.Fprintf(h, "%s\x00%o\x00%s\x00", it.rel, it.st.Mode, it.link)
			if it.st.Mode&unix.S_IFMT == unix.S_IFREG {
				if err := preadTo(h, it.fd); err != nil {
					return fmt.Errorf("read %s/%s: %w", s.rel, it.rel, err)
				}
			}
			h.Write([]byte{'\n'})
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// preadTo writes what fd holds, from its start, to w: pread(2), so that
// the file's offset stays where it was (the digest reads a file, then the
// copy reads it again).
func preadTo(w io.Writer, fd int) error {
	buf := make([]byte, 128<<10)
	var off int64
	for {
		n, err := unix.Pread(fd, buf, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += int64(n)
	}
}
