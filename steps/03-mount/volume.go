package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// ParseVolume reads docker's -v HOST:CONTAINER[:ro|rw]. The host path must
// exist: docker would create it, but a typo then silently makes a new
// directory on the host.
func ParseVolume(s string) (steps.Volume, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return steps.Volume{}, fmt.Errorf("-v %q: want HOST:CONTAINER or HOST:CONTAINER:ro", s)
	}
	v := steps.Volume{Target: filepath.Clean(parts[1])}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return v, fmt.Errorf("-v %q: the mode must be ro or rw, not %q", s, parts[2])
		}
	}
	if !filepath.IsAbs(v.Target) || v.Target == "/" {
		return v, fmt.Errorf("-v %q: the container path must be absolute and not /", s)
	}
	if reserved(v.Target) {
		return v, fmt.Errorf("-v %q: %s is the kernel's (proc, sysfs, the container's /dev): mount the volume somewhere else", s, v.Target)
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return v, fmt.Errorf("-v %q: %w", s, err)
	}
	if _, err := os.Stat(src); err != nil {
		return v, fmt.Errorf("-v %q: the host path %s does not exist: create it first", s, src)
	}
	v.Source = src
	return v, nil
}

// BindVolume bind-mounts a host path into the new root, before pivot_root,
// while both trees are still visible. The container path is resolved
// inside root (steps.MountIn): a symlink in the image leads the volume to
// where it points inside the container, never onto the host. A mount point
// the image lacks is made, in the container's own layer from step 8 on,
// as docker makes it. Exported for the lab (lab/03-mount), whose Init
// calls it.
func BindVolume(ctx *steps.Context, root string, v steps.Volume) error {
	create := steps.MakeDir(ctx, 0o755)
	if fi, err := os.Stat(v.Source); err == nil && !fi.IsDir() {
		create = steps.MakeFile(ctx)
	}
	if err := steps.MountIn(ctx, v.Source, root, v.Target, "", unix.MS_BIND|unix.MS_REC, "", create); err != nil {
		return err
	}
	if !v.ReadOnly {
		return nil
	}
	// MS_RDONLY is ignored on the first bind; it takes a remount (mount(2)),
	// on the target looked up again, which now leads to the bind mount.
	return steps.MountIn(ctx, "", root, v.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "", nil)
}

// reserved says whether a container path is one mini mounts itself and a
// volume may not cover: /proc and /sys and what is under them, and /dev
// itself (a volume under /dev, such as /dev/shm, is fine).
func reserved(target string) bool {
	for _, p := range []string{"/proc", "/sys"} {
		if target == p || strings.HasPrefix(target, p+"/") {
			return true
		}
	}
	return target == "/dev"
}
