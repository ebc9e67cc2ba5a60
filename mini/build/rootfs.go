package build

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/mini/image"
	"mini/steps"
)

// COPY, ADD and WORKDIR run no container: they write into the image built
// so far, as docker's classic builder writes into a container's root
// filesystem it does not start. mini mounts the image's layers as the
// lower layers of an overlay with an upper directory of its own (scratch),
// writes there through the mount, and the upper directory is the step's
// layer, read by overlay.Diff as a RUN's is.
//
// The mount is detached: fsopen(2), fsconfig(2) and fsmount(2) (Linux 5.2)
// make a mount that is in no mount namespace's tree. No path on the host
// reaches it; mini reaches it through the file descriptor fsmount returns,
// and it goes away when that is closed, even if mini is killed. Every path
// inside is resolved with openat2(2) RESOLVE_IN_ROOT, the mount's root as
// /: the image's links (/var/run -> /run, or -> /etc on the host) lead
// where they lead inside the image, never out.

// maxLayers is the most layers a build stacks: docker refuses a build past
// 125 ("max depth exceeded"), and each layer costs its lowerdir= entry
// ("/proc/self/fd/N:", 18 bytes) of the page that holds the options.
const maxLayers = 125

// scratch is an image's layers mounted under an upper directory of its own.
type scratch struct {
	dir   string // in the store's tmp/: upper, work, and empty (the lower of an image with no layer)
	upper string
	root  int // the mount, O_PATH: its root is the image's /
}

// mountScratch mounts layers (directories, topmost first) under a new
// upper directory. The overlay is mounted with "userxattr", as step 8's
// are: its markers are user.overlay.*, which overlay.Diff reads.
func mountScratch(store *image.Store, layers []string) (*scratch, error) {
	if len(layers) > maxLayers {
		return nil, fmt.Errorf("the image has %d layers: a build stacks at most %d (docker's limit too): squash its base", len(layers), maxLayers)
	}
	tmp, err := store.TempPath("build")
	if err != nil {
		return nil, err
	}
	s := &scratch{dir: tmp, upper: filepath.Join(tmp, "upper"), root: -1}
	for _, d := range []string{tmp, s.upper, filepath.Join(tmp, "work"), filepath.Join(tmp, "empty")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			s.remove()
			return nil, fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	if len(layers) == 0 {
		layers = []string{filepath.Join(tmp, "empty")} // overlayfs wants a lower layer
	}
	// Each layer by a file descriptor: "/proc/self/fd/N" is short, so many
	// fit in the options' page.
	var lowers []string
	for _, l := range layers {
		fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			s.remove()
			return nil, fmt.Errorf("open %s: %w", l, err)
		}
		defer unix.Close(fd)
		lowers = append(lowers, "/proc/self/fd/"+strconv.Itoa(fd))
	}
	if s.root, err = fsmountOverlay(strings.Join(lowers, ":"), s.upper, filepath.Join(tmp, "work")); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// fsmountOverlay makes a detached overlay mount and returns its fd.
func fsmountOverlay(lower, upper, work string) (int, error) {
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay: %w (mini build needs Linux 5.2 and overlayfs: modprobe overlay)", err)
	}
	defer unix.Close(fs)
	for _, o := range [][2]string{{"lowerdir", lower}, {"upperdir", upper}, {"workdir", work}} {
		if err := unix.FsconfigSetString(fs, o[0], o[1]); err != nil {
			return -1, fmt.Errorf("fsconfig overlay %s: %w%s", o[0], err, kernelSays(fs))
		}
	}
	if err := unix.FsconfigSetFlag(fs, "userxattr"); err != nil {
		return -1, fmt.Errorf("fsconfig overlay userxattr: %w (Linux 5.11 has it)%s", err, kernelSays(fs))
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("fsconfig overlay FSCONFIG_CMD_CREATE: %w%s", err, kernelSays(fs))
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay: %w", err)
	}
	return mnt, nil
}

// kernelSays reads what the filesystem logged on its context's fd: the
// reason for a refusal, which mount(2) would have sent to dmesg only.
func kernelSays(fs int) string {
	buf := make([]byte, 512)
	n, err := unix.Read(fs, buf)
	if err != nil || n <= 2 {
		return ""
	}
	return " (the kernel says: " + strings.TrimSpace(string(buf[2:n])) + ")"
}

// unmount closes the mount: the kernel takes it away, and what was
// written is in the upper directory.
func (s *scratch) unmount() {
	if s.root >= 0 {
		unix.Close(s.root)
		s.root = -1
	}
}

// remove unmounts and removes the scratch directory.
func (s *scratch) remove() {
	s.unmount()
	image.RemoveAll(s.dir)
}

// exists says whether p (absolute, in the image) is there.
func (s *scratch) exists(p string) (bool, *unix.Stat_t, error) {
	f, err := openInRoot(s.root, p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, nil, err
	}
	return true, &st, nil
}

// readFile reads a small file of the image (/etc/passwd), "" if missing.
func (s *scratch) readFile(p string) ([]byte, error) {
	f, err := openInRoot(s.root, p, unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4<<20))
}

// identity resolves USER[:GROUP] in the image's /etc/passwd and
// /etc/group, as the container's would be (steps.LookupUser).
func (s *scratch) identity(user string) (steps.Identity, error) {
	passwd, err := s.readFile("/etc/passwd")
	if err != nil {
		return steps.Identity{}, err
	}
	group, err := s.readFile("/etc/group")
	if err != nil {
		return steps.Identity{}, err
	}
	return steps.LookupUser("--user", user, passwd, group)
}

// owner is who owns what a step makes.
type owner struct{ uid, gid int }

// mkdirAll makes the directory p (absolute, in the image) and what is
// missing above it, each 0755 and o's, and returns it opened (O_PATH).
// Each component is looked up from the root again, RESOLVE_IN_ROOT, so a
// link on the way is followed inside the image.
func (s *scratch) mkdirAll(p string, o owner) (*os.File, error) {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	for i := 0; i <= len(parts); i++ {
		sub := "/" + strings.Join(parts[:i], "/")
		f, err := openInRoot(s.root, sub, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			if i == len(parts) {
				return f, nil
			}
			f.Close()
			continue
		}
		if errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("%s: %s is not a directory in the image", p, sub)
		}
		if !errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%s: openat2 %s (RESOLVE_IN_ROOT): %w", p, sub, err)
		}
		parent, err := openInRoot(s.root, "/"+strings.Join(parts[:i-1], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		name := parts[i-1]
		err = unix.Mkdirat(int(parent.Fd()), name, 0o755)
		if errors.Is(err, unix.EEXIST) {
			err = fmt.Errorf("%s is a link to nothing in the image", sub)
		}
		if err == nil {
			err = unix.Fchownat(int(parent.Fd()), name, o.uid, o.gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err == nil {
			// mkdir(2) applies the umask: the mode is set after.
			err = unix.Fchmodat(int(parent.Fd()), name, 0o755, 0)
		}
		parent.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: mkdirat %s: %w", p, sub, err)
		}
		i-- // open what was just made
	}
	return nil, fmt.Errorf("%s: not reached", p)
}
