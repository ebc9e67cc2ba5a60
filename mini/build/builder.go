package build

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"mini/mini/image"
	"mini/steps"
	overlay "mini/steps/08-overlay"
)

// Options are mini build's.
type Options struct {
	Store      *image.Store
	Context    string // the context directory, absolute
	Dockerfile string // its path, as -f named it
	// Instructions are the Dockerfile's, parsed (Parse).
	Instructions []Instruction
	Tags         []image.Reference
	BuildArgs    map[string]string // --build-arg KEY=VALUE
	NoCache      bool
	Out          io.Writer // the steps' lines
	Run          Runner
	Pull         func(name string) error // pulls a FROM image the store lacks
	// PutDiff makes a directory (an upper directory) a layer of the
	// store, and Unpack unpacks ADD's archive into a directory, saying
	// whether it was one: both in bin/mini-image, whose gzip bin/mini does
	// not link (mini/layers.go).
	PutDiff func(dir string, opt overlay.DiffOptions) (*image.Layer, error)
	Unpack  func(archive, dir *os.File) (bool, error)
}

// Runner runs one RUN instruction: a container of the image Image (an
// image id) running Args, with Env added (the build's ARGs), through the
// same code path as mini run, at the default step. Started is called with
// the container's id before it starts. The container stays once it has
// exited, for its upper directory.
type Runner func(req RunRequest) (*RunResult, error)

// RunRequest is what a RUN asks of a Runner.
type RunRequest struct {
	Image   string
	Args    []string
	Env     []string
	Started func(id string)
}

// RunResult is how a RUN's container ended, and what is left of it.
type RunResult struct {
	Code   int    // its exit code
	Upper  string // its upper directory: what it changed
	UIDMap []steps.IDMap
	GIDMap []steps.IDMap
	Remove func() error // removes the container, as mini rm
}

// RunError is a RUN whose command failed: the build exits with its code,
// as docker's does.
type RunError struct {
	Command string
	Code    int
}

func (e *RunError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", e.Command, e.Code)
}

// ScratchParent is the parent of the first step of a build FROM scratch, in
// the cache: another "" would be every pulled image.
const ScratchParent = "scratch"

// builder is one build at work.
type builder struct {
	opt     Options
	ctx     *buildContext
	img     *image.Image // the image so far; nil FROM scratch
	parent  string       // its manifest digest, the cache's parent
	config  *image.Config
	args    map[string]string // the ARGs in scope that have a value
	global  map[string]string // those before FROM
	used    map[string]bool   // build args an ARG declared
	cmdSet  bool
	started bool // FROM has run
}

// Build runs the Dockerfile's instructions and returns the image they
// make. Each step's image is in the store, unnamed, with the step before
// as its parent: the next build finds it there (the cache). The last one
// gets the tags.
func Build(opt Options) (*image.Image, error) {
	opt.Store.Sweep() // what a build or a pull killed half-way left in tmp/
	ctx, err := openContext(opt.Context)
	if err != nil {
		return nil, err
	}
	defer ctx.close()
	b := &builder{opt: opt, ctx: ctx, args: map[string]string{}, global: map[string]string{}, used: map[string]bool{}}
	n := len(opt.Instructions)
	for i, in := range opt.Instructions {
		fmt.Fprintf(opt.Out, "Step %d/%d : %s\n", i+1, n, in.String())
		if err := b.step(in); err != nil {
			return nil, err
		}
	}
	var unused []string
	for k := range opt.BuildArgs {
		if !b.used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		fmt.Fprintf(opt.Out, "[Warning] One or more build-args [%s] were not consumed\n", strings.Join(unused, " "))
	}
	if b.img == nil {
		return nil, errors.New("FROM scratch and nothing after it: the image would be empty")
	}
	for _, t := range opt.Tags {
		if err := opt.Store.Tag(b.img.Digest, t); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(opt.Out, "Successfully built %s\n", image.Short(b.img.ID))
	for _, t := range opt.Tags {
		fmt.Fprintf(opt.Out, "Successfully tagged %s\n", t.Familiar())
	}
	return b.img, nil
}

// vars are the variables words expand from at this step.
func (b *builder) vars() vars {
	if !b.started {
		return vars{args: b.global}
	}
	return vars{env: b.config.Config.Env, args: b.args}
}

// step runs one instruction.
func (b *builder) step(in Instruction) error {
	lx := b.vars().lexer(in.Escape)
	switch in.Cmd {
	case "ARG":
		return b.arg(in, lx)
	case "FROM":
		return b.from(in, lx)
	case "RUN":
		return b.run(in)
	case "COPY", "ADD":
		return b.copy(in, lx)
	case "WORKDIR":
		return b.workdir(in, lx)
	}
	return b.configStep(in, lx, nil)
}

// configStep applies an instruction that changes the config, and ends
// the step with layer's layer, if any: WORKDIR's directory.
func (b *builder) configStep(in Instruction, lx lexer, layer func(c image.RunConfig) (*image.Layer, error)) error {
	c := b.config.Config
	text, err := applyConfig(in, &c, lx, &b.cmdSet)
	if err != nil {
		return err
	}
	return b.commit("/bin/sh -c #(nop) "+text, func(cfg *image.Config) (*image.Layer, error) {
		cfg.Config = c
		if layer == nil {
			return nil, nil
		}
		return layer(c)
	})
}

// arg is ARG NAME[=DEFAULT]: NAME's value is --build-arg's, else the
// default. Before FROM it is for FROM only; after, for the steps after it,
// and RUN sees it as an environment variable (not kept in the image).
func (b *builder) arg(in Instruction, lx lexer) error {
	name, def, hasDef := strings.Cut(in.Rest, "=")
	if nameLen(name) != len(name) || name == "" {
		return in.errorf("ARG %s: want NAME[=DEFAULT], NAME a letter or _, then letters, digits and _", in.Rest)
	}
	b.used[name] = true
	val, given := b.opt.BuildArgs[name]
	if !given && hasDef {
		v, err := lx.word(def)
		if err != nil {
			return in.errorf("ARG %s: %v", name, err)
		}
		val, given = v, true
	}
	if !b.started {
		if given {
			b.global[name] = val
		}
		return nil
	}
	if g, ok := b.global[name]; ok && !given {
		val, given = g, true // ARG NAME after FROM takes the global one
	}
	if given {
		b.args[name] = val
	}
	return b.commit("/bin/sh -c #(nop) ARG "+in.Rest, nil)
}

// from starts from an image of the store, pulled if it lacks it, or from
// nothing (scratch).
func (b *builder) from(in Instruction, lx lexer) error {
	name, err := lx.word(strings.Fields(in.Rest)[0])
	if err != nil {
		return in.errorf("FROM %s: %v", in.Rest, err)
	}
	b.started = true
	if name == "scratch" {
		b.img, b.parent, b.config = nil, ScratchParent, &image.Config{}
		fmt.Fprintln(b.opt.Out, " --->")
		return nil
	}
	ref, err := image.ParseReference(name)
	if err != nil {
		return in.errorf("FROM %s: %v", name, err)
	}
	img, err := b.opt.Store.Resolve(name)
	if errors.Is(err, image.ErrNotFound) && b.opt.Pull != nil {
		if err = b.opt.Pull(name); err == nil {
			img, err = b.opt.Store.Resolve(name)
		}
	}
	if errors.Is(err, image.ErrNotFound) {
		return in.errorf("FROM %s: no such image: mini pull %s, or mini load it", ref.Familiar(), name)
	}
	if err != nil {
		return in.errorf("FROM %s: %v", name, err)
	}
	b.img, b.parent = img, img.Digest
	b.config = img.Config.Clone()
	b.config.CompleteHistory()
	fmt.Fprintf(b.opt.Out, " ---> %s\n", image.Short(img.ID))
	return nil
}

// run is RUN: a container of the image so far; what it changed is the
// step's layer.
func (b *builder) run(in Instruction) error {
	argv := in.Exec
	createdBy := strings.Join(in.Exec, " ")
	if !in.IsExec {
		argv = []string{"/bin/sh", "-c", in.Rest}
		createdBy = "/bin/sh -c " + in.Rest
	}
	// The ARGs in scope are the command's environment, and part of the
	// step's text (docker's "|1 VERSION=2 /bin/sh -c ..."): another value
	// is another step.
	var env []string
	for k, v := range b.args {
		if _, isEnv := (vars{env: b.config.Config.Env}).lookup(k); !isEnv {
			env = append(env, k+"="+v)
		}
	}
	sort.Strings(env)
	if len(env) > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", len(env), strings.Join(env, " "), createdBy)
	}
	if b.img == nil {
		return in.errorf("RUN on an image FROM scratch, with nothing in it: there is no shell to run (COPY one in first)")
	}
	return b.commit(createdBy, func(cfg *image.Config) (*image.Layer, error) {
		var id string
		res, err := b.opt.Run(RunRequest{Image: b.img.ID, Args: argv, Env: env, Started: func(cid string) {
			id = cid
			fmt.Fprintf(b.opt.Out, " ---> Running in %s\n", cid)
		}})
		if err != nil {
			return nil, in.errorf("RUN: %v", err)
		}
		defer func() {
			if err := res.Remove(); err != nil {
				fmt.Fprintf(os.Stderr, "mini: remove container %s: %v\n", id, err)
			}
		}()
		if res.Code != 0 {
			return nil, &RunError{Command: strings.Join(argv, " "), Code: res.Code}
		}
		l, err := b.opt.PutDiff(res.Upper, overlay.DiffOptions{UIDMap: res.UIDMap, GIDMap: res.GIDMap})
		if err != nil {
			return nil, in.errorf("RUN: the container's layer: %v", err)
		}
		fmt.Fprintf(b.opt.Out, "Removing intermediate container %s\n", id)
		return l, nil
	})
}

// copy is COPY and ADD.
func (b *builder) copy(in Instruction, lx lexer) error {
	var args []string
	var err error
	if in.IsExec {
		for _, a := range in.Exec {
			w, err := lx.word(a)
			if err != nil {
				return in.errorf("%s: %v", in.Cmd, err)
			}
			args = append(args, w)
		}
	} else if args, err = lx.words(in.Rest); err != nil {
		return in.errorf("%s: %v", in.Cmd, err)
	}
	if len(args) < 2 {
		return in.errorf("%s needs a source and a destination", in.Cmd)
	}
	srcArgs, dest := args[:len(args)-1], args[len(args)-1]
	for _, s := range srcArgs {
		if strings.Contains(s, "://") || strings.HasPrefix(s, "git@") {
			return in.errorf("%s %s: mini build does not fetch from the network: download it into the build context and COPY it", in.Cmd, s)
		}
	}
	destDir := strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		dest = path.Join("/", b.config.Config.WorkingDir, dest)
	}
	dest = path.Clean(dest)
	chown, hasChown := in.flag("chown")
	if hasChown {
		if chown, err = lx.word(chown); err != nil || steps.CheckUser(chown) != nil {
			return in.errorf("%s --chown=%s: want USER[:GROUP], names or numbers", in.Cmd, chown)
		}
	}
	if len(srcArgs) > 1 && !destDir {
		return in.errorf("%s: %d sources: the destination must be a directory and end with a / (docker's rule)", in.Cmd, len(srcArgs))
	}
	srcs, err := b.ctx.sources(srcArgs)
	if err != nil {
		return in.errorf("%s %v", in.Cmd, err)
	}
	defer func() {
		for _, s := range srcs {
			s.f.Close()
		}
	}()
	if len(srcs) > 1 && !destDir {
		return in.errorf("%s: %d sources: the destination must be a directory and end with a / (docker's rule)", in.Cmd, len(srcs))
	}
	sum, err := b.ctx.digest(srcs)
	if err != nil {
		return in.errorf("%s: %v", in.Cmd, err)
	}
	kind := "file"
	switch {
	case len(srcs) > 1:
		kind = "multi"
	case srcs[0].isDir():
		kind = "dir"
	}
	shownDest := dest
	if destDir && dest != "/" {
		shownDest += "/"
	}
	text := fmt.Sprintf("/bin/sh -c #(nop) %s %s:%s in %s ", in.Cmd, kind, sum, shownDest)
	if hasChown {
		text = fmt.Sprintf("/bin/sh -c #(nop) %s --chown=%s %s:%s in %s ", in.Cmd, chown, kind, sum, shownDest)
	}
	return b.commit(text, func(cfg *image.Config) (*image.Layer, error) {
		return b.inScratch(func(s *scratch) (bool, error) {
			o := owner{}
			if hasChown {
				id, err := ownerOf(s, chown)
				if err != nil {
					return false, in.errorf("%s --chown=%s: %v", in.Cmd, chown, err)
				}
				o = id
			}
			job := &copyJob{ctx: b.ctx, srcs: srcs, dest: dest, destDir: destDir, owner: o, add: in.Cmd == "ADD", unpack: b.opt.Unpack}
			if err := job.run(s); err != nil {
				return false, in.errorf("%s %v", in.Cmd, err)
			}
			return true, nil
		})
	})
}

// ownerOf reads USER[:GROUP] (--chown's, or USER's for WORKDIR) as
// buildah does: names from the image's /etc/passwd and /etc/group; without
// GROUP, the user's group there, or for a uid it does not list, the uid's
// number.
func ownerOf(s *scratch, user string) (owner, error) {
	id, err := s.identity(user)
	if err != nil {
		return owner{}, errors.New(strings.TrimPrefix(err.Error(), "--user "+user+": "))
	}
	if !strings.Contains(user, ":") {
		passwd, err := s.readFile("/etc/passwd")
		if err != nil {
			return owner{}, err
		}
		if !listsUID(passwd, id.UID) {
			return owner{id.UID, id.UID}, nil
		}
	}
	return owner{id.UID, id.GID}, nil
}

// listsUID says whether a passwd(5) file has an entry for uid.
func listsUID(passwd []byte, uid int) bool {
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 7 && f[2] == strconv.Itoa(uid) {
			return true
		}
	}
	return false
}

// workdir is WORKDIR: the config's, and the directory made if the image
// lacks it, owned by USER (as BuildKit and buildah make it).
func (b *builder) workdir(in Instruction, lx lexer) error {
	return b.configStep(in, lx, func(c image.RunConfig) (*image.Layer, error) {
		return b.inScratch(func(s *scratch) (bool, error) {
			there, _, err := s.exists(c.WorkingDir)
			if err != nil || there {
				return false, err
			}
			o := owner{}
			if c.User != "" {
				if o, err = ownerOf(s, c.User); err != nil {
					return false, in.errorf("WORKDIR: USER %s: %v", c.User, err)
				}
			}
			d, err := s.mkdirAll(c.WorkingDir, o)
			if err != nil {
				return false, in.errorf("WORKDIR %v", err)
			}
			d.Close()
			return true, nil
		})
	})
}

// inScratch mounts the image so far under a new upper directory, runs
// write in it, and makes the upper directory the step's layer if write
// says it made one.
func (b *builder) inScratch(write func(*scratch) (bool, error)) (*image.Layer, error) {
	var layers []string
	if b.img != nil {
		layers = b.opt.Store.LayerDirs(b.img)
	}
	s, err := mountScratch(b.opt.Store, layers)
	if err != nil {
		return nil, err
	}
	defer s.remove()
	made, err := write(s)
	s.unmount()
	if err != nil || !made {
		return nil, err
	}
	// The files are the build's, made without a user namespace: owners
	// as they are.
	return b.opt.PutDiff(s.upper, overlay.DiffOptions{})
}

// commit ends a step: the cache's image for it if there is one (its
// parent this step's, its last history entry this text), else a new one
// that makeLayer (nil: none) gives a layer to, or not. Either way it is the
// image so far from now on.
func (b *builder) commit(text string, makeLayer func(*image.Config) (*image.Layer, error)) error {
	if !b.opt.NoCache {
		hit, err := b.cached(text)
		if err != nil {
			return err
		}
		if hit != nil {
			fmt.Fprintln(b.opt.Out, " ---> Using cache")
			return b.now(hit)
		}
	}
	cfg := b.config.Clone()
	var layer *image.Layer
	var err error
	if makeLayer != nil {
		if layer, err = makeLayer(cfg); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.History = append(cfg.History, image.History{Created: &now, CreatedBy: text, EmptyLayer: layer == nil})
	var layers []*image.Layer
	if layer != nil {
		layers = append(layers, layer)
	}
	img, err := b.opt.Store.AddBuilt(image.Built{Base: b.img, Layers: layers, Config: cfg, Parent: b.parent})
	if err != nil {
		return err
	}
	return b.now(img)
}

// now makes img the image so far.
func (b *builder) now(img *image.Image) error {
	b.img, b.parent, b.config = img, img.Digest, img.Config.Clone()
	fmt.Fprintf(b.opt.Out, " ---> %s\n", image.Short(img.ID))
	return nil
}

// cached finds the image a step made before: a child of the image so far
// whose last history entry is text. The newest wins.
func (b *builder) cached(text string) (*image.Image, error) {
	children, err := b.opt.Store.Children(b.parent)
	if err != nil {
		return nil, err
	}
	var found *image.Image
	for _, c := range children {
		h := c.Config.History
		if len(h) > 0 && h[len(h)-1].CreatedBy == text && (found == nil || c.Added.After(found.Added)) {
			found = c
		}
	}
	return found, nil
}

// DefaultDockerfile is -f's default: the Dockerfile in the context.
func DefaultDockerfile(context string) string { return filepath.Join(context, "Dockerfile") }
