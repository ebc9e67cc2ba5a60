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
// while both trees are still visible. Exported for the lab (lab/03-mount),
// whose Init calls it.
func BindVolume(ctx *steps.Context, root string, v steps.Volume) error {
	target := filepath.Join(root, v.Target)
	if fi, err := os.Stat(v.Source); err == nil && !fi.IsDir() {
		if err := steps.Mkdir(ctx, filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if f, err := os.OpenFile(target, os.O_CREATE, 0o644); err == nil {
			f.Close()
		}
	} else if err := steps.Mkdir(ctx, target, 0o755); err != nil {
		return err
	}
	if err := steps.Mount(ctx, v.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if !v.ReadOnly {
		return nil
	}
	// MS_RDONLY is ignored on the first bind; it takes a remount (mount(2)).
	return steps.Mount(ctx, "", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}
