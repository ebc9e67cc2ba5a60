package steps

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths inside the image are the image's to choose, and an image is not to
// be trusted: /data may be a symlink to /etc, or to ../../../etc. Before
// pivot_root the child still sees the host's tree, so a mount point looked
// up as root+"/data" would follow that symlink out of the image and mount,
// or create, on the host. OpenInRoot resolves a path as if root were / —
// openat2(2) with RESOLVE_IN_ROOT (Linux 5.6): an absolute symlink starts
// again at root, and ".." stops there — and the mount is then made on the
// file descriptor it returns (MountOn), so nothing can change the path in
// between. runc does the same (its securejoin and /proc/self/fd).

// OpenInRoot opens path (absolute, as the container will see it) inside the
// directory root, O_PATH, resolving every symlink inside root. If create
// is not nil, what is missing is made inside root: every missing directory
// on the way with mkdirat(2), and the last component with create itself
// (a directory, or an empty file to bind a file over). A missing
// component that is a dangling symlink is made where the symlink points,
// inside root.
func OpenInRoot(ctx *Context, root, path string, create func(dirfd int, name string) error) (*os.File, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	// Each pass makes one missing component; a symlink loop stops it.
	for pass := 0; pass < 256; pass++ {
		fd, err := openat2InRoot(rootFD, path)
		if err == nil {
			return os.NewFile(uintptr(fd), filepath.Join(root, path)), nil
		}
		if !errors.Is(err, unix.ENOENT) || create == nil {
			return nil, fmt.Errorf("openat2 %s in %s (RESOLVE_IN_ROOT): %w", path, root, err)
		}
		if path, err = makeMissing(ctx, rootFD, path, create); err != nil {
			return nil, fmt.Errorf("%s in %s: %w", path, root, err)
		}
	}
	return nil, fmt.Errorf("%s in %s: too many missing components or symlinks", path, root)
}

// openat2InRoot is openat2(2) of path beneath dirfd as its root, O_PATH, no
// magic links (/proc/self/fd/N would lead anywhere).
func openat2InRoot(dirfd int, path string) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(dirfd, path, how)
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// makeMissing makes the first component of path that does not exist, or,
// if it is a dangling symlink, returns the path with the symlink replaced
// by its target, so that the next pass makes that instead.
func makeMissing(ctx *Context, rootFD int, path string, create func(dirfd int, name string) error) (string, error) {
	parts := strings.Split(strings.Trim(filepath.Clean("/"+path), "/"), "/")
	for i := range parts {
		parent, name := "/"+strings.Join(parts[:i], "/"), parts[i]
		dirfd, err := openat2InRoot(rootFD, parent)
		if err != nil {
			return path, fmt.Errorf("openat2 %s (RESOLVE_IN_ROOT): %w", parent, err)
		}
		var st unix.Stat_t
		err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, rerr := readlinkat(dirfd, name)
			unix.Close(dirfd)
			if rerr != nil {
				return path, rerr
			}
			if fd, err := openat2InRoot(rootFD, filepath.Join(parent, name)); err == nil {
				unix.Close(fd)
				continue // it leads somewhere that exists: go on below it
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(parent, target)
			}
			return filepath.Join(append([]string{target}, parts[i+1:]...)...), nil
		}
		if err == nil {
			unix.Close(dirfd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			unix.Close(dirfd)
			return path, fmt.Errorf("fstatat %s: %w", filepath.Join(parent, name), err)
		}
		if i < len(parts)-1 {
			ctx.Tracef("mkdirat(%q, %q, 0755)", parent, name)
			err = unix.Mkdirat(dirfd, name, 0o755)
		} else {
			err = create(dirfd, name)
		}
		unix.Close(dirfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return path, fmt.Errorf("make %s: %w", filepath.Join(parent, name), err)
		}
		return path, nil
	}
	return path, nil
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", fmt.Errorf("readlinkat %s: %w", name, err)
	}
	return string(buf[:n]), nil
}

// MakeDir is a create for OpenInRoot: a directory of mode.
func MakeDir(ctx *Context, mode uint32) func(int, string) error {
	return func(dirfd int, name string) error {
		ctx.Tracef("mkdirat(%q, %#o)", name, mode)
		return unix.Mkdirat(dirfd, name, mode)
	}
}

// MakeFile is a create for OpenInRoot: an empty file to bind a file over.
func MakeFile(ctx *Context) func(int, string) error {
	return func(dirfd int, name string) error {
		ctx.Tracef("openat(%q, O_CREAT, 0644)", name)
		fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
}

// FDPath is the path that reaches an open file: /proc/self/fd/N, a magic
// link to the very file (proc(5)). mount(2) on it mounts on that file,
// wherever its name now leads.
func FDPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// MountIn mounts source on path inside root, resolved and made with
// OpenInRoot (see there), so the image's symlinks never lead the mount
// out of root. The trace shows the path as the container will see it.
func MountIn(ctx *Context, source, root, path, fstype string, flags uintptr, data string, create func(int, string) error) error {
	f, err := OpenInRoot(ctx, root, path, create)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx.Tracef("openat2(root, %q, RESOLVE_IN_ROOT) = fd %d", path, f.Fd())
	if err := Mount(ctx, source, FDPath(f), fstype, flags, data); err != nil {
		return fmt.Errorf("%s in the container: %w", path, err)
	}
	return nil
}
