package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"mini/mini/build"
	"mini/mini/container"
	"mini/mini/image"
	overlay "mini/steps/08-overlay"
)

const commitUsage = "commit [-a AUTHOR] [-c CHANGE]... [-m MESSAGE] CONTAINER [NAME[:TAG]]"

// commitMain is mini commit: what a container changed, its upper
// directory, becomes a layer on top of its image's, as docker commit makes
// it (overlay.Diff: whiteouts and owners turned back into a layer's), with
// a config that runs what the container ran: its command, environment,
// working directory and user, unless -c changes them. It prints the new
// image's id.
func commitMain(args []string) int {
	fs, root := commandFlags("commit", commitUsage)
	dataRoot := fs.String("data-root", image.DefaultRoot(), "where images are kept ($MINI_DATA_ROOT, else /var/lib/mini)")
	author := fs.StringP("author", "a", "", "the image's author")
	message := fs.StringP("message", "m", "", "a comment for the image's history")
	changes := fs.StringArrayP("change", "c", nil, "a Dockerfile instruction to apply: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER or WORKDIR")
	if err := parseCommand(fs, args, 1, commitUsage); err != nil {
		return commandExit(err)
	}
	if fs.NArg() > 2 {
		return commandExit(fmt.Errorf("commit takes a CONTAINER and a NAME[:TAG] at most: mini %s", commitUsage))
	}
	var names []image.Reference
	if fs.NArg() == 2 {
		ref, err := image.ParseReference(fs.Arg(1))
		if err == nil && ref.Digest != "" {
			err = fmt.Errorf("%s: a name to give cannot name a digest", fs.Arg(1))
		}
		if err != nil {
			return commandExit(fmt.Errorf("commit: %w", err))
		}
		names = append(names, ref)
	}
	s, err := find(*root, fs.Arg(0))
	if err != nil {
		return commandExit(err)
	}
	img, err := commit(s, *dataRoot, *author, *message, *changes, names)
	if err != nil {
		return commandExit(err)
	}
	fmt.Println(img.ID)
	return 0
}

// commit makes the image of container s.
func commit(s *container.State, dataRoot, author, message string, changes []string, names []image.Reference) (*image.Image, error) {
	spec := s.Spec
	switch {
	case s.Running():
		return nil, fmt.Errorf("container %s is running: mini commit reads its upper layer while nothing writes it (docker pauses it; mini does not): mini stop %s first", s.Name, s.Name)
	case spec.Step < 8:
		return nil, fmt.Errorf("container %s ran at step %d: below step 8 it has no layer of its own (what it wrote went into %s): run it at --step 8 or higher", s.Name, spec.Step, spec.Image)
	}
	store, err := image.Open(dataRoot, true)
	if err != nil {
		return nil, err
	}
	store.Sweep()
	upper := overlay.LayersOf(container.Dir(spec.Root, s.ID)).Upper
	if _, err := os.Lstat(upper); err != nil {
		return nil, fmt.Errorf("container %s: its upper layer: %w", s.Name, err)
	}

	// The base: the stored image the container ran, or, for a directory
	// (rootfs/busybox), the directory itself as a first layer.
	var base *image.Image
	cfg := &image.Config{}
	var layers []*image.Layer
	now := time.Now().UTC()
	discard := func() {
		for _, l := range layers {
			store.Discard(l.Added)
		}
	}
	if spec.ImageID != "" {
		if base, err = store.Resolve(spec.ImageID); err != nil {
			if errors.Is(err, image.ErrNotFound) {
				err = fmt.Errorf("container %s: its image %s is not in the store (--data-root %s)", s.Name, image.Short(spec.ImageID), dataRoot)
			}
			return nil, err
		}
		cfg = base.Config.Clone()
		cfg.CompleteHistory()
	} else {
		l, err := putDiff(dataRoot, spec.Image, overlay.DiffOptions{})
		if err != nil {
			return nil, fmt.Errorf("the image directory %s as a layer: %w", spec.Image, err)
		}
		layers = append(layers, l)
		cfg.History = append(cfg.History, image.History{Created: &now, CreatedBy: "mini commit: the directory " + spec.Image})
	}
	l, err := putDiff(dataRoot, upper, overlay.DiffOptions{UIDMap: spec.UIDMap, GIDMap: spec.GIDMap})
	if err != nil {
		discard()
		return nil, fmt.Errorf("container %s: its upper layer: %w", s.Name, err)
	}
	layers = append(layers, l)

	// What the container ran. Its command is Entrypoint and Cmd together;
	// the image's Entrypoint, if the command starts with it, stays one.
	c := &cfg.Config
	var env []string
	for _, kv := range spec.Env {
		if !strings.HasPrefix(kv, "HOSTNAME=") { // the container's, not the image's
			env = append(env, kv)
		}
	}
	c.Env, c.WorkingDir, c.User = env, spec.Dir, spec.User
	ep := c.Entrypoint
	if len(ep) > 0 && len(s.Args) >= len(ep) && strings.Join(s.Args[:len(ep)], "\x00") == strings.Join(ep, "\x00") {
		c.Cmd = append([]string{}, s.Args[len(ep):]...)
	} else {
		c.Entrypoint, c.Cmd = nil, append([]string{}, s.Args...)
	}
	for _, ch := range changes {
		if _, err := build.ApplyChange(ch, c); err != nil {
			discard()
			return nil, err
		}
	}
	cfg.Created, cfg.Author = &now, author
	cfg.History = append(cfg.History, image.History{Created: &now, CreatedBy: strings.Join(s.Args, " "), Author: author, Comment: message})
	parent := ""
	if base != nil {
		parent = base.Digest
	}
	img, err := store.AddBuilt(image.Built{Base: base, Layers: layers, Config: cfg, Parent: parent, Names: names})
	if err != nil {
		discard()
		return nil, err
	}
	return img, nil
}
