package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"mini/mini/image"
	"mini/steps"
)

// mini run's IMAGE is a root filesystem directory when it is one (as
// rootfs/busybox), else the name of an image in the store (busybox,
// localhost:5000/x:1), pulled first if the store lacks it (--pull).

// imageRunFlags are mini run's flags for images, docker's names.
func imageRunFlags(fs *pflag.FlagSet) {
	fs.String("pull", "missing", "pull the image before running: missing (if the store lacks it), always or never")
	fs.String("data-root", image.DefaultRoot(), "where images are kept ($MINI_DATA_ROOT, else /var/lib/mini)")
	fs.String("entrypoint", "", "the command to run in place of the image's entrypoint (its CMD is then dropped too)")
}

// maxLayers is the most image layers step 8 can stack: overlayfs takes at
// most 500 lower layers (OVL_MAX_STACK, fs/overlayfs/params.h), and the
// -init layer is one of them. Docker refuses more than 125 when it builds
// an image; an image from elsewhere may have more.
const maxLayers = 499

// runImage is an image of the store that a container is made from.
type runImage struct {
	store *image.Store
	img   *image.Image
}

// setImage fills in what IMAGE gives the spec: its layers, and for an
// image of the store its config's Entrypoint and Cmd (spec.Args holds the
// command given, if any), WorkingDir, User and Env, as docker applies them.
// It returns the image's Env, which goes under -e.
func setImage(fs *pflag.FlagSet, spec *steps.Spec, arg string) ([]string, error) {
	entrypoint, _ := fs.GetString("entrypoint")
	if dir, ok, err := imageDir(arg); ok || err != nil {
		if err != nil {
			return nil, err
		}
		spec.Image, spec.Layers, spec.Rootfs = dir, []string{dir}, dir
		if fs.Changed("entrypoint") && entrypoint != "" {
			spec.Args = append([]string{entrypoint}, spec.Args...)
		}
		if len(spec.Args) == 0 {
			if _, err := os.Lstat(filepath.Join(dir, "bin/sh")); err != nil {
				return nil, fmt.Errorf("image %s has no /bin/sh to run by default: give a COMMAND", arg)
			}
			spec.Args = []string{"/bin/sh"}
		}
		return nil, nil
	}

	ri, err := findImage(fs, arg)
	if err != nil {
		return nil, err
	}
	layers := ri.store.LayerDirs(ri.img)
	switch {
	case len(layers) == 0:
		return nil, fmt.Errorf("image %s has no layers: there is nothing to run", arg)
	case len(layers) > maxLayers:
		return nil, fmt.Errorf("image %s has %d layers: overlayfs stacks at most %d lower layers, and step 8 adds one (the -init layer): squash the image into fewer", arg, len(layers), maxLayers+1)
	case len(layers) > 1 && !spec.OwnLayers():
		return nil, fmt.Errorf("image %s has %d layers, and below step 8 the container's / is one directory: only overlayfs (step 8) stacks layers: use --step 8", arg, len(layers))
	}
	if os.Geteuid() == 0 && spec.RootRemapped() && !spec.OwnLayers() {
		// The container's root is another host uid from step 5 on, and
		// until step 8 mounts the layers for it, it would have to walk
		// into the store itself.
		return nil, fmt.Errorf("image %s is in the image store, which only root may enter (a layer may hold setuid programs): from step 5 the container's root is another host uid, and before step 8 its / is the layer itself: use --step 8, or --step 4 or lower", arg)
	}
	spec.Image, spec.ImageID, spec.Layers, spec.Rootfs = arg, ri.img.ID, layers, layers[0]

	// docker's rules: --entrypoint replaces the image's Entrypoint and
	// drops its Cmd; arguments after IMAGE replace Cmd.
	c := ri.img.Config.Config
	ep, cmd := c.Entrypoint, c.Cmd
	if fs.Changed("entrypoint") {
		ep, cmd = nil, nil
		if entrypoint != "" {
			ep = []string{entrypoint}
		}
	}
	if len(spec.Args) > 0 {
		cmd = spec.Args
	}
	spec.Args = append(append([]string{}, ep...), cmd...)
	if len(spec.Args) == 0 {
		return nil, fmt.Errorf("image %s has no Entrypoint and no Cmd: give a COMMAND", arg)
	}
	if c.WorkingDir != "" && !fs.Changed("workdir") {
		spec.Dir = path.Join("/", c.WorkingDir)
	}
	if spec.User == "" {
		spec.User = c.User
	}
	return c.Env, nil
}

// imageDir says whether arg names a directory: one that is there, or a
// path that cannot be an image name (/x, ./x, ../x) or whose parent
// directory is there (rootfs/alpine, not built yet). Such a path that is
// missing, or a file, is an error.
func imageDir(arg string) (string, bool, error) {
	dir, err := filepath.Abs(arg)
	if err != nil {
		return "", true, fmt.Errorf("image %s: %w", arg, err)
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return dir, true, nil
	case err == nil:
		return "", true, fmt.Errorf("image %s: not a directory: IMAGE is a root filesystem directory such as rootfs/busybox", arg)
	}
	parent, perr := os.Stat(filepath.Dir(dir))
	pathLike := strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") || strings.HasPrefix(arg, "~") ||
		strings.Contains(arg, "/") && perr == nil && parent.IsDir()
	if pathLike {
		return "", true, fmt.Errorf("image %s: no such directory (build the example image with 'make rootfs')", arg)
	}
	return "", false, nil
}

// findImage looks the image up in the store, pulling it first as --pull
// says.
func findImage(fs *pflag.FlagSet, arg string) (*runImage, error) {
	policy, _ := fs.GetString("pull")
	root, _ := fs.GetString("data-root")
	if policy != "missing" && policy != "always" && policy != "never" {
		return nil, fmt.Errorf("--pull %q: want missing, always or never", policy)
	}
	ref, err := image.ParseReference(arg)
	if err != nil {
		return nil, fmt.Errorf("image %s: not a directory, nor an image name: %v", arg, err)
	}
	s, err := image.Open(root, false)
	if err != nil {
		return nil, err
	}
	if policy == "always" {
		if err := pullForRun(root, arg); err != nil {
			return nil, err
		}
	}
	img, err := s.Resolve(arg)
	if errors.Is(err, image.ErrNotFound) && policy == "missing" {
		if err := pullForRun(root, arg); err != nil {
			return nil, err
		}
		img, err = s.Resolve(arg)
	}
	if errors.Is(err, image.ErrNotFound) {
		return nil, fmt.Errorf("image %s not found: mini pull %s", ref.Familiar(), arg)
	}
	if err != nil {
		return nil, err
	}
	return &runImage{store: s, img: img}, nil
}
