package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// An OCI config lists every mount of the container itself, /proc, /sys and
// /dev included, in the order they are made, each with mount(8)'s options
// (config.md, "Mounts"). Step 3 then makes those in place of its own. An
// option is either a flag of mount(2) (ro, nosuid, bind ...), a propagation
// (shared, rslave ...), applied by a second mount(2) call of its own, or
// data for the file system (mode=755, size=64k), passed on as it is.

// mountFlags are the options that are flags, as mount(8) names them: set
// (true) or cleared (false).
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

// propagations are the options that change a mount's propagation
// (mount_namespaces(7)), each its own mount(2) call; r is recursive.
var propagations = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// KnownOptions are the options step 3 takes as flags or propagations, for
// mini features. Anything else is the file system's data.
func KnownOptions() []string {
	var out []string
	for o := range mountFlags {
		out = append(out, o)
	}
	for o := range propagations {
		out = append(out, o)
	}
	return out
}

// refused are options runc knows that mini does not do, and why.
var refused = map[string]string{
	"tmpcopyup": "mini does not copy the image's files into a tmpfs",
	"idmap":     "mini makes no idmapped mounts from a config (step 8 does for its layers)",
	"ridmap":    "mini makes no idmapped mounts from a config (step 8 does for its layers)",
}

// Parsed is one mount of a config, ready for mount(2).
type Parsed struct {
	steps.MountEntry
	Flags       uintptr   // flags of the first mount(2)
	Propagation []uintptr // one mount(2) each, after it
	Data        string    // what is left: the file system's own options
}

// Bind says whether it is a bind mount: of a host path, made by MS_BIND.
func (p Parsed) Bind() bool { return p.Flags&unix.MS_BIND != 0 || p.Type == "bind" }

// ParseMount reads one mount of a config. The source of a bind mount must
// be absolute (mini/oci makes a bundle-relative one so).
func ParseMount(m steps.MountEntry) (Parsed, error) {
	p := Parsed{MountEntry: m}
	what := fmt.Sprintf("mounts: %s", m.Destination)
	if !filepath.IsAbs(m.Destination) {
		return p, fmt.Errorf("%s: the destination must be an absolute path", what)
	}
	var data []string
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				p.Flags &^= f.flag
			} else {
				p.Flags |= f.flag
			}
			continue
		}
		if f, ok := propagations[o]; ok {
			p.Propagation = append(p.Propagation, f)
			continue
		}
		if why, ok := refused[o]; ok {
			return p, fmt.Errorf("%s: option %q: %s", what, o, why)
		}
		if strings.HasPrefix(o, "r") && mountFlags[o[1:]].flag != 0 && o != "remount" && o != "relatime" {
			return p, fmt.Errorf("%s: option %q: mini sets no recursive mount attributes (mount_setattr(2) with AT_RECURSIVE); use %q", what, o, o[1:])
		}
		data = append(data, o)
	}
	if p.Type == "bind" {
		p.Flags |= unix.MS_BIND
	}
	p.Data = strings.Join(data, ",")
	if p.Bind() && !filepath.IsAbs(m.Source) {
		return p, fmt.Errorf("%s: the source of a bind mount, %q, must be an absolute path", what, m.Source)
	}
	if !p.Bind() && p.Type == "" && p.Flags&unix.MS_REMOUNT == 0 {
		return p, fmt.Errorf("%s: no type: give the file system type (proc, tmpfs, sysfs ...) or the bind option", what)
	}
	return p, nil
}

// MountList makes the config's mounts under root, in order: each mount
// point is looked up, and made if missing, inside root (steps.MountIn),
// so that no path of the image leads a mount out of it.
func MountList(ctx *steps.Context, root string, list []steps.MountEntry) error {
	return mountList(ctx, root, list, nil)
}

// mountList is MountList; rec, if not nil, records each mount before it
// is made (a container without a mount namespace: hostns.go).
func mountList(ctx *steps.Context, root string, list []steps.MountEntry, rec *record) error {
	for _, m := range list {
		p, err := ParseMount(m)
		if err != nil {
			return err
		}
		if err := mountOne(ctx, root, p, rec); err != nil {
			return err
		}
	}
	return nil
}

// ociMounts makes what an OCI config asks of the container's root, before
// it is entered: its mounts, /proc, /sys and /dev among them, and the
// device nodes: what runc makes. rec is mountList's.
func ociMounts(ctx *steps.Context, root string, rec *record) error {
	o := ctx.Spec.OCI
	if err := mountList(ctx, root, o.Mounts, rec); err != nil {
		return err
	}
	devDir, err := steps.OpenInRoot(ctx, root, "/dev", steps.MakeDir(ctx, 0o755))
	if err != nil {
		return err
	}
	err = makeNodes(ctx, steps.FDPath(devDir))
	devDir.Close()
	if err != nil {
		return err
	}
	return configDevices(ctx, root, o.Devices)
}

// mountOne is one mount: mount(2) with its flags and data; a bind mount
// that asks for more flags (ro, nosuid) is then remounted with them, which
// a first bind ignores (mount(2)); then each propagation. Only the first
// makes a mount: rec records that one.
func mountOne(ctx *steps.Context, root string, p Parsed, rec *record) error {
	create := steps.MakeDir(ctx, 0o755)
	if p.Bind() {
		fi, err := os.Stat(p.Source)
		if err != nil {
			return fmt.Errorf("mounts: %s: the source %w", p.Destination, err)
		}
		if !fi.IsDir() {
			create = steps.MakeFile(ctx)
		}
	}
	if p.Flags&unix.MS_REMOUNT != 0 {
		create = nil
	}
	flags, source, fstype := p.Flags, p.Source, p.Type
	if p.Bind() {
		flags &= unix.MS_BIND | unix.MS_REC
		fstype = ""
	}
	if rec != nil && p.Flags&unix.MS_REMOUNT == 0 {
		if err := rec.add(ctx, root, p.Destination, create); err != nil {
			return err
		}
	}
	if err := steps.MountIn(ctx, source, root, p.Destination, fstype, flags, p.Data, create); err != nil {
		return err
	}
	if extra := p.Flags &^ (unix.MS_BIND | unix.MS_REC); p.Bind() && extra != 0 {
		if err := steps.MountIn(ctx, "", root, p.Destination, "", unix.MS_BIND|unix.MS_REMOUNT|extra|steps.LockedFlags(p.Source), "", nil); err != nil {
			return err
		}
	}
	for _, prop := range p.Propagation {
		if err := steps.MountIn(ctx, "", root, p.Destination, "", prop, "", nil); err != nil {
			return err
		}
	}
	return nil
}

// joinMount makes this thread of the child a member of the mount
// namespace an OCI config names by path, in place of a new one. The child
// does it, not the host (steps.JoinNS): a mount namespace is joined only by
// a thread that shares no file system information (root, working
// directory) with the others, which a thread of the host's Go runtime
// does; the child's thread stops sharing it, with unshare(CLONE_FS), and
// execs the command from there.
func joinMount(ctx *steps.Context, path string) error {
	ctx.Tracef("unshare(CLONE_FS), setns(%s, CLONE_NEWNS)", path)
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w", err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("setns %s CLONE_NEWNS: %w", path, err)
	}
	return nil
}

// finishRoot does what a config asks of / once it is the container's: its
// propagation (rootfsPropagation), and read-only (root.readonly), by a
// remount of the bind mount pivot_root entered.
func finishRoot(ctx *steps.Context) error {
	o := ctx.Spec.OCI
	if o == nil {
		return nil
	}
	if o.RootReadonly {
		if err := steps.Mount(ctx, "", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|steps.LockedFlags("/"), ""); err != nil {
			return err
		}
	}
	if o.RootPropagation != "" {
		flag, ok := propagations[o.RootPropagation]
		if !ok {
			return fmt.Errorf("linux.rootfsPropagation %q: want private, shared, slave or unbindable (r for recursive)", o.RootPropagation)
		}
		return steps.Mount(ctx, "", "/", "", flag, "")
	}
	return nil
}

// CheckPropagation checks rootfsPropagation on the host.
func CheckPropagation(p string) error {
	if _, ok := propagations[p]; p != "" && !ok {
		return fmt.Errorf("linux.rootfsPropagation %q: want private, shared, slave or unbindable, r in front for recursive", p)
	}
	return nil
}

// noPivot makes root the container's / without pivot_root(2), for a root
// on a file system that cannot be pivoted from (the initramfs): it moves
// the mount onto / (MS_MOVE) and chroot(2)s into it. The old root stays
// underneath, reachable to whoever escapes the chroot: runc's --no-pivot
// has the same weakness, which is why pivot_root is the default.
func noPivot(ctx *steps.Context, root string) error {
	ctx.Tracef("chdir(%q)", root)
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	if err := steps.Mount(ctx, root, "/", "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	return chroot(ctx, root)
}

// chroot makes the working directory, root, this process's / (chroot(2)),
// and goes there.
func chroot(ctx *steps.Context, root string) error {
	ctx.Tracef("chroot(\".\")")
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	ctx.Tracef("chdir(\"/\")")
	return unix.Chdir("/")
}
