package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"mini/mini/build"
	"mini/mini/container"
	"mini/mini/image"
	overlay "mini/steps/08-overlay"
)

const buildUsage = "build [-t NAME[:TAG]]... [-f FILE] [--build-arg KEY=VALUE]... [--no-cache] [--network bridge|none|host] DIR"

// buildMain is mini build (mini/build): a Dockerfile's instructions, one
// image per step, with docker's classic builder's output and cache. A RUN
// is a container, made and run as mini run makes and runs one (runStep).
// The exit code is 0, 125 for mini's own failure, or a RUN's non-zero code.
func buildMain(args []string) int {
	fs, root := commandFlags("build", buildUsage)
	dataRoot := fs.String("data-root", image.DefaultRoot(), "where images are kept ($MINI_DATA_ROOT, else /var/lib/mini)")
	tags := fs.StringArrayP("tag", "t", nil, "NAME[:TAG] to give the image (more than one -t: more names)")
	file := fs.StringP("file", "f", "", "the Dockerfile (default: DIR/Dockerfile; - reads it from stdin)")
	buildArgs := fs.StringArray("build-arg", nil, "KEY=VALUE for an ARG of the Dockerfile (KEY alone: this environment's value)")
	noCache := fs.Bool("no-cache", false, "run every step again, even those the store has from an earlier build")
	network := fs.String("network", "bridge", "the network of RUN's containers: bridge, none or host")
	if err := parseCommand(fs, args, 1, buildUsage); err != nil {
		return commandExit(err)
	}
	if fs.NArg() != 1 {
		return commandExit(fmt.Errorf("build takes one DIR, the build context: mini %s", buildUsage))
	}
	switch *network {
	case "bridge", "none", "host":
	default:
		return commandExit(fmt.Errorf("--network %q: RUN's containers take bridge, none or host", *network))
	}
	if os.Geteuid() != 0 {
		return commandExit(errors.New("build: mini build mounts the image's layers for COPY and runs RUN's containers at step 9: it needs root (sudo mini build ...)"))
	}
	opt, err := buildOptions(fs.Arg(0), *file, *dataRoot, *tags, *buildArgs, *noCache)
	if err != nil {
		return commandExit(err)
	}
	// RUN reads nothing (docker's RUN has no stdin): its containers get
	// /dev/null as fd 0, which they inherit from this mini.
	if err := stdinNull(); err != nil {
		return commandExit(err)
	}
	opt.Run = runStep(absRoot(*root), *dataRoot, *network)
	opt.Pull = func(name string) error { return pullForRun(*dataRoot, name) }
	opt.PutDiff = func(dir string, o overlay.DiffOptions) (*image.Layer, error) { return putDiff(*dataRoot, dir, o) }
	opt.Unpack = unpackArchive
	if _, err := build.Build(*opt); err != nil {
		var runErr *build.RunError
		if errors.As(err, &runErr) {
			fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
			return runErr.Code
		}
		return commandExit(err)
	}
	return 0
}

// buildOptions checks what can be checked before anything runs: the
// names, the build args, the context and the Dockerfile, parsed.
func buildOptions(dir, file, dataRoot string, tags, buildArgs []string, noCache bool) (*build.Options, error) {
	opt := &build.Options{NoCache: noCache, Out: os.Stdout, BuildArgs: map[string]string{}}
	for _, t := range tags {
		ref, err := image.ParseReference(t)
		if err == nil && ref.Digest != "" {
			err = fmt.Errorf("image name %q: a tag cannot name a digest", t)
		}
		if err != nil {
			return nil, fmt.Errorf("-t: %w", err)
		}
		opt.Tags = append(opt.Tags, ref)
	}
	for _, kv := range buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("--build-arg %q: want KEY=VALUE", kv)
		}
		if !ok {
			if v, ok = os.LookupEnv(k); !ok {
				continue // docker drops a KEY this environment does not have
			}
		}
		opt.BuildArgs[k] = v
	}
	ctx, err := filepath.Abs(dir)
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(ctx); err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("build: the build context %s: %v (give the directory COPY reads from)", dir, err)
	}
	opt.Context = ctx
	var r io.Reader
	switch {
	case file == "-":
		opt.Dockerfile, r = "Dockerfile", os.Stdin
	case file == "":
		file = build.DefaultDockerfile(ctx)
		fallthrough
	default:
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("build: the Dockerfile: %v", err)
		}
		defer f.Close()
		opt.Dockerfile, r = file, f
		if rel, err := filepath.Rel(ctx, file); err == nil && !strings.HasPrefix(rel, "..") && file == build.DefaultDockerfile(ctx) {
			opt.Dockerfile = "Dockerfile"
		}
	}
	if opt.Instructions, err = build.Parse(opt.Dockerfile, io.LimitReader(r, 4<<20)); err != nil {
		return nil, err
	}
	if opt.Store, err = image.Open(dataRoot, true); err != nil {
		return nil, err
	}
	return opt, nil
}

// stdinNull makes this process's fd 0 /dev/null (dup2(2)).
func stdinNull() error {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/null: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Dup2(fd, 0); err != nil {
		return fmt.Errorf("dup2 /dev/null: %w", err)
	}
	return nil
}

// runStep is how a build runs a RUN: the arguments of a mini run, parsed
// and run by the same code as mini run's (parseRunID, runContainer): at
// the default step, in the foreground, kept when it exits (no --rm), so
// that its upper directory can become the step's layer; then removed, as
// mini rm removes it.
func runStep(root, dataRoot, network string) build.Runner {
	return func(req build.RunRequest) (*build.RunResult, error) {
		args := []string{"--root", root, "--data-root", dataRoot, "--pull", "never", "--net", network}
		for _, kv := range req.Env {
			args = append(args, "-e", kv)
		}
		args = append(append(args, req.Image), req.Args...)
		var opts lifeOptions
		spec, err := parseRunID(args, "", &opts)
		if err != nil {
			return nil, err
		}
		req.Started(spec.ID)
		code, runErr := runContainer(args, spec, opts)
		// The engine caught Ctrl-C and the like to pass them to the
		// container, and goes on catching them: the build's next steps
		// must stop on them again.
		signal.Reset(unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
		s, err := container.Load(spec.Root, spec.ID)
		if err != nil {
			// It never started: nothing of it is left.
			if runErr == nil {
				runErr = fmt.Errorf("container %s: %w", spec.ID, err)
			}
			return nil, runErr
		}
		remove := func() error { return container.Remove(s, recipe, os.Stderr) }
		if runErr != nil {
			remove()
			return nil, runErr
		}
		return &build.RunResult{
			Code:   code,
			Upper:  overlay.LayersOf(container.Dir(spec.Root, spec.ID)).Upper,
			UIDMap: spec.UIDMap,
			GIDMap: spec.GIDMap,
			Remove: remove,
		}, nil
	}
}
