package mount

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// A config may list no mount namespace at all (runtime-tools'
// linux_ns_itype lists none): the container then stays in the runtime's
// own, as in every namespace it does not list. It has no / of its own to
// pivot away from, and pivot_root(2) here would move the host's: its root
// is entered with chroot(2), as runc does. The config's mounts are made
// in the runtime's mount namespace, under the bundle's root, where the
// host sees them: that is what the config asked. / is never made private
// or slave here (runc makes it rslave): it is the host's.
//
// No namespace takes these mounts away when the container dies. So each
// is written to a record in the container's state directory before it is
// made, and Cleanup unmounts them, the last first: at mini delete, after
// a create that failed half-way, and when a later mini reclaims the
// container of a holder that was killed (mini/container, Refresh). What
// would change the host's own mounts (root.readonly, rootfsPropagation,
// maskedPaths) mini/oci refuses without a mount namespace (hostMounts).
//
// A chroot is no wall: such a container shares the host's mount table,
// and one with CAP_SYS_CHROOT or CAP_SYS_ADMIN can leave its root. That is
// what the config asks for; a mount namespace is what isolates.

// hostMount is one line of the record: the mount point as the container
// sees it, and the id of the mount it was on before (statx(2),
// STATX_MNT_ID): Cleanup unmounts what covers that, never that itself.
type hostMount struct {
	Destination string `json:"destination"`
	Under       uint64 `json:"under"`
}

// recordPath is the record: <root>/containers/<id>/mounts.
func recordPath(ctx *steps.Context) string { return filepath.Join(ctx.ContainerDir(), "mounts") }

// Prepare opens the record, on the host, for the child to write: it is
// there before the child exists, so Cleanup finds it whatever happens.
func (Step) Prepare(ctx *steps.Context) error {
	o := ctx.Spec.OCI
	if !o.InheritsMounts() {
		return nil
	}
	path := recordPath(ctx)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return steps.StateError(err)
	}
	ctx.Tracef("open(%q, O_CREAT|O_APPEND): each mount is written here before it is made", path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return steps.StateError(err)
	}
	o.MountsFD = ctx.PassFile(f)
	return nil
}

// initHostNS is Init without a mount namespace: the mounts, each recorded
// first, then chroot(2) into root.
func initHostNS(ctx *steps.Context) error {
	rec := &record{f: os.NewFile(uintptr(ctx.Spec.OCI.MountsFD), "mounts record")}
	// The command must not inherit it.
	defer rec.f.Close()
	if err := ctx.MountRootfs(); err != nil {
		return err
	}
	root := ctx.Spec.Rootfs
	if err := ociMounts(ctx, root, rec); err != nil {
		return err
	}
	ctx.Tracef("chdir(%q)", root)
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	return chroot(ctx, root)
}

// record is the child's end of the record.
type record struct{ f *os.File }

// add records the mount about to be made on path in root: it opens the
// mount point (made if missing, as MountIn would), reads the id of the
// mount it is on, and writes one line, in one write(2), so that a mini
// killed half-way leaves whole lines.
func (r *record) add(ctx *steps.Context, root, path string, create func(int, string) error) error {
	f, err := steps.OpenInRoot(ctx, root, path, create)
	if err != nil {
		return err
	}
	under, err := mountID(f)
	f.Close()
	if err != nil {
		return err
	}
	line, _ := json.Marshal(hostMount{Destination: path, Under: under})
	ctx.Tracef("write(record, %s): recorded before mount(2)", line)
	if _, err := r.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("record the mount on %s: %w", path, err)
	}
	return nil
}

// mountID is the id of the mount f is on (statx(2), STATX_MNT_ID, Linux 5.8).
func mountID(f *os.File) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &st); err != nil {
		return 0, fmt.Errorf("statx %s: %w", f.Name(), err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, fmt.Errorf("statx %s: no mount id (Linux 5.8 or later gives one)", f.Name())
	}
	return st.Mnt_id, nil
}

// Cleanup unmounts what the record lists, the last first, and removes the
// record once all are gone; if one fails the record stays, for the next
// mini to try again.
func (Step) Cleanup(ctx *steps.Context) error {
	if !ctx.Spec.OCI.InheritsMounts() {
		return nil
	}
	path := recordPath(ctx)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	list := readRecord(data)
	var errs []error
	for i := len(list) - 1; i >= 0; i-- {
		errs = append(errs, unmountOne(ctx, ctx.Spec.Rootfs, list[i]))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ctx.Tracef("unlink(%q)", path)
	return os.Remove(path)
}

// readRecord reads the record's lines; a line cut short (a mini killed
// while it wrote it) made no mount yet, and is skipped.
func readRecord(data []byte) []hostMount {
	var list []hostMount
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m hostMount
		if json.Unmarshal(sc.Bytes(), &m) == nil && filepath.IsAbs(m.Destination) {
			list = append(list, m)
		}
	}
	return list
}

// unmountOne unmounts the mount on m's mount point, looked up in root as
// it was made (steps.OpenInRoot: no symlink of the image leads it
// elsewhere), unless what is there is still the mount it was made on:
// then it was never made, or is gone already. umount2(2) of the file
// descriptor's /proc/self/fd link unmounts the very mount it opened,
// MNT_DETACH with what is mounted below it.
func unmountOne(ctx *steps.Context, root string, m hostMount) error {
	f, err := steps.OpenInRoot(ctx, root, m.Destination, nil)
	if errors.Is(err, unix.ENOENT) {
		return nil // no mount point, so no mount: made by nobody
	}
	if err != nil {
		return err
	}
	defer f.Close()
	id, err := mountID(f)
	if err != nil || id == m.Under {
		return err
	}
	ctx.Tracef("umount2(%q in the container, MNT_DETACH)", m.Destination)
	if err := unix.Unmount(steps.FDPath(f), unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount2 %s in %s: %w", m.Destination, root, err)
	}
	return nil
}
