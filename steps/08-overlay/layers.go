package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Layers are the directories of one container, under
// <root>/containers/<id>. Docker keeps the same four per container in
// /var/lib/docker/overlay2: <id>-init, diff, work and merged.
type Layers struct {
	Dir    string // <root>/containers/<id>
	Init   string // the -init layer: /etc/hostname, /etc/hosts, /etc/resolv.conf
	Upper  string // the container's own read-write layer
	Work   string // overlayfs's scratch directory, on the same filesystem as Upper
	Merged string // where the overlay is mounted: the container's /
	// Lower holds a mount point per image layer, lower/0 the topmost: the
	// child attaches there the mounts the host made of the image's layers.
	Lower string
	// RemoveBy names the mini that removes the layers if the command never
	// runs, or with --rm once it has (steps.Owner): if that mini dies
	// first, the next run removes them.
	RemoveBy string
}

// LayersOf names the directories of the container whose directory is dir
// (Context.ContainerDir). Exported for the lab (lab/08-overlay).
func LayersOf(dir string) Layers {
	return Layers{
		Dir:      dir,
		Init:     filepath.Join(dir, "init"),
		Upper:    filepath.Join(dir, "upper"),
		Work:     filepath.Join(dir, "work"),
		Merged:   filepath.Join(dir, "merged"),
		Lower:    filepath.Join(dir, "lower"),
		RemoveBy: filepath.Join(dir, "remove-by"),
	}
}

// lowerName is the mount point of image layer i, relative to the
// container's directory: "lower/0" is the topmost.
func lowerName(i int) string { return "lower/" + strconv.Itoa(i) }

// Options is the data argument of mount(2) for the overlay of n image
// layers (see Documentation/filesystems/overlayfs.rst), with paths relative
// to the container's lower directory, the child's working directory when
// it mounts: lowerdir lists the -init layer, then the image's layers, top
// first; upperdir and workdir are the container's own. Short relative
// paths keep the options within the page mount(2) copies, for as many
// layers as overlayfs stacks (500): the trick docker's overlay2 driver
// uses too. In a user namespace overlayfs keeps its whiteout and opaque
// markers in user.overlay.* xattrs, since trusted.* needs CAP_SYS_ADMIN in
// the initial namespace: that is "userxattr" (Linux 5.11).
func Options(n int, userns bool) string {
	lowers := []string{"../init"}
	for i := 0; i < n; i++ {
		lowers = append(lowers, strconv.Itoa(i))
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=../upper,workdir=../work"
	if userns {
		opts += ",userxattr"
	}
	return opts
}

// initFile is one file of the -init layer.
type initFile struct {
	path string // inside the container
	data string
}

// initFiles are the files of the -init layer of the container in spec.
// hostResolv and hostHosts are the host's /etc/resolv.conf and /etc/hosts.
func initFiles(spec *steps.Spec, hostResolv, hostHosts string) []initFile {
	hosts := Hosts(spec.IP, spec.Hostname, spec.Name, spec.ID)
	resolv := ResolvConf(hostResolv)
	if sharesHostNet(spec) {
		// On the host's network the host's lo is the container's too, so
		// the host's files work as they are: docker copies them.
		hosts, resolv = hostHosts, hostResolv
	}
	return []initFile{
		{"/etc/hostname", Hostname(spec.Hostname)},
		{"/etc/hosts", hosts},
		{"/etc/resolv.conf", resolv},
	}
}

// sharesHostNet says whether the container uses the host's network: --net
// host, or no network step at all.
func sharesHostNet(spec *steps.Spec) bool {
	return spec.Net == "host" || spec.Net == ""
}

// makeLayers lays out the container's directories and writes the -init
// layer. The state directories above are root's, 0700: nobody else may
// read what containers leave in their layers, or run what they leave there
// (a setuid binary of the container's root). The container's directory is
// 0711, so that the child, which reaches it through a file descriptor
// (see Attach), may pass through to its own layers; everything the
// container's root must write belongs to it: on the host that is uid/gid
// (RootUID/RootGID, 0 without a user namespace).
func makeLayers(ctx *steps.Context, l Layers, image []string, files []initFile, uid, gid int) error {
	if err := mkdirPrivate(ctx, filepath.Dir(l.Dir)); err != nil {
		return err
	}
	// The container's state (mini/container) may be there already.
	if err := steps.MkdirMode(l.Dir, 0o711); err == nil {
		ctx.Tracef("mkdir(%q, 0711)", l.Dir)
	} else if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", l.Dir, err)
	} else if err := os.Chmod(l.Dir, 0o711); err != nil {
		return fmt.Errorf("chmod %s: %w", l.Dir, err)
	}
	// First, before the layers: whatever is made after it is found again
	// if this mini dies. Started drops it once the command runs (unless
	// --rm): a container that ran is kept.
	owner, err := steps.Self()
	if err != nil {
		return err
	}
	ctx.Tracef("write %s: pid %d removes these layers unless the command runs", l.RemoveBy, owner.PID)
	if err := steps.WriteOwner(l.RemoveBy, owner); err != nil {
		return err
	}
	if err := mkdirOwned(ctx, l.Init, 0o755, uid, gid); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeOwned(ctx, l.Init, image, f, uid, gid); err != nil {
			return err
		}
	}
	// The mount points step 3 needs, if the image lacks them (an image
	// FROM scratch): made here, they are not made in the upper directory,
	// which mini commit and mini build turn into a layer (docker's -init
	// layer has them for the same reason).
	for _, d := range mountPoints {
		if !inImage(image, d) {
			if err := mkdirOwned(ctx, filepath.Join(l.Init, d), 0o755, uid, gid); err != nil {
				return err
			}
		}
	}
	// The upper directory's own mode and owner become those of the
	// container's /: the image's mode, and the container root's.
	if err := mkdirOwned(ctx, l.Upper, modeOf(image, "/", 0o755), uid, gid); err != nil {
		return err
	}
	if err := mkdirOwned(ctx, l.Work, 0o700, uid, gid); err != nil {
		return err
	}
	if err := mkdirOwned(ctx, l.Merged, 0o755, uid, gid); err != nil {
		return err
	}
	if err := mkdirOwned(ctx, l.Lower, 0o700, uid, gid); err != nil {
		return err
	}
	for i := range image {
		if err := mkdirOwned(ctx, filepath.Join(l.Dir, lowerName(i)), 0o700, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// writeOwned writes one file into the init layer, making its directories.
// A directory here hides the image's own in the merged view (the topmost
// layer that has it gives its mode and owner), so it takes the mode the
// image gives it, or 0755.
func writeOwned(ctx *steps.Context, layer string, image []string, f initFile, uid, gid int) error {
	dir := filepath.Dir(f.path)
	mode := modeOf(image, dir, 0o755)
	if err := mkdirOwned(ctx, filepath.Join(layer, dir), mode, uid, gid); err != nil {
		return err
	}
	p := filepath.Join(layer, f.path)
	ctx.Tracef("write %s (%d bytes)%s", p, len(f.data), chownNote(uid, gid))
	if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return chown(p, uid, gid)
}

// modeOf is the permission bits of directory dir as the image shows it:
// the topmost of its layers that has it gives them; def if none has it.
func modeOf(image []string, dir string, def os.FileMode) os.FileMode {
	for _, layer := range image {
		if fi, err := os.Lstat(filepath.Join(layer, dir)); err == nil {
			if fi.IsDir() {
				return fi.Mode().Perm()
			}
			return def
		}
	}
	return def
}

// mountPoints are the directories step 3 mounts on.
var mountPoints = []string{"/dev", "/proc", "/sys"}

// inImage says whether one of the image's layers has path.
func inImage(image []string, path string) bool {
	for _, layer := range image {
		if _, err := os.Lstat(filepath.Join(layer, path)); err == nil {
			return true
		}
	}
	return false
}

// mkdirOwned makes one directory with exactly mode (the umask is undone)
// and gives it to uid:gid. An existing directory is left as it is.
func mkdirOwned(ctx *steps.Context, path string, mode os.FileMode, uid, gid int) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	ctx.Tracef("mkdir(%q, %#o)%s", path, mode, chownNote(uid, gid))
	if err := steps.MkdirMode(path, mode); errors.Is(err, os.ErrExist) {
		return nil // another mini made it a moment ago
	} else if err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return chown(path, uid, gid)
}

// mkdirPrivate makes <root>/containers, or makes the one there 0700 (an
// older mini made it 0711).
func mkdirPrivate(ctx *steps.Context, dir string) error {
	if err := mkdirOwned(ctx, dir, 0o700, os.Geteuid(), os.Getegid()); err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm() != 0o700 {
		ctx.Tracef("chmod(%q, 0700)", dir)
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// chown gives path to uid:gid, unless it is ours already.
func chown(path string, uid, gid int) error {
	if !mustChown(uid, gid) {
		return nil
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

func mustChown(uid, gid int) bool { return uid != os.Geteuid() || gid != os.Getegid() }

// chownNote is what a trace line says of the chown that follows.
func chownNote(uid, gid int) string {
	if !mustChown(uid, gid) {
		return ""
	}
	return fmt.Sprintf(", chown %d:%d", uid, gid)
}

// reclaimLayers removes the layers of every run under root whose mini is
// gone, when it ran with --rm or its command never ran: killed by SIGKILL,
// that mini could not remove them itself. A container that ran without --rm
// keeps its layers, as docker keeps a stopped container (Started dropped
// its record).
func reclaimLayers(ctx *steps.Context, root string) {
	steps.ReclaimDead(ctx, filepath.Join(root, "containers", "*", "remove-by"), steps.ReadOwner,
		func(mark string) error { return RemoveLayers(ctx, LayersOf(filepath.Dir(mark))) })
}

// RemoveLayers removes what makeLayers made, whatever part of it exists,
// and the container's directory if nothing else is left in it. Exported for
// the lab (lab/08-overlay), whose Cleanup calls it.
func RemoveLayers(ctx *steps.Context, l Layers) error {
	for _, d := range []string{l.Init, l.Upper, l.Work, l.Merged, l.Lower} {
		if _, err := os.Lstat(d); err != nil {
			continue
		}
		ctx.Tracef("rm -r %s", d)
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("remove %s: %w", d, err)
		}
	}
	if err := os.Remove(l.RemoveBy); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Another step may keep files here too; the last one out removes it.
	err := os.Remove(l.Dir)
	if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTEMPTY) {
		return nil
	}
	return fmt.Errorf("remove %s: %w", l.Dir, err)
}
