package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"mini/mini/container"
	"mini/mini/image"
	"mini/steps"
)

// The image commands, docker's names and output shapes: mini images, tag
// and rmi read and change the store here; mini pull, push, load and save run
// bin/mini-image (imageTool), which holds the registry client and the
// archive code, so that bin/mini, which starts twice per container, does
// not carry them (docs/images.md).

// imageFlags parses an image command's flags, with --data-root.
var imageFlags = image.ParseFlags

// fail prints an image command's error as every mini error: one line, 125.
func fail(err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
	return 125
}

// imagesMain is mini images: REPOSITORY TAG IMAGE ID CREATED SIZE, one line
// per name, the newest first; an image without a name is <none> <none>.
// The steps of a build (images without a name that others were made from)
// are left out unless -a, as docker leaves out its intermediate images.
func imagesMain(args []string) int {
	var quiet, noTrunc, all bool
	_, root, err := imageFlags("images", "images [-a] [-q] [--no-trunc]", args, func(fs *pflag.FlagSet) {
		fs.BoolVarP(&all, "all", "a", false, "list the intermediate images of builds too")
		fs.BoolVarP(&quiet, "quiet", "q", false, "print only image ids")
		fs.BoolVar(&noTrunc, "no-trunc", false, "print whole image ids")
	})
	if err != nil {
		return fail(err)
	}
	s, err := image.Open(root, false)
	if err != nil {
		return fail(err)
	}
	imgs, err := s.Images()
	if err != nil {
		return fail(err)
	}
	if !all {
		imgs = topLevel(imgs)
	}
	id := func(img *image.Image) string {
		if noTrunc {
			return img.ID
		}
		return image.Short(img.ID)
	}
	if quiet {
		seen := map[string]bool{}
		for _, img := range imgs {
			if !seen[img.ID] {
				seen[img.ID] = true
				fmt.Println(id(img))
			}
		}
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	for _, img := range imgs {
		created := "N/A"
		if c := img.Config.Created; c != nil && !c.IsZero() {
			created = image.HumanDuration(time.Since(*c)) + " ago"
		}
		rows := [][2]string{}
		for _, n := range img.Names {
			tag := n.Tag
			if tag == "" {
				tag = "<none>"
			}
			rows = append(rows, [2]string{n.FamiliarName(), tag})
		}
		if len(rows) == 0 {
			rows = append(rows, [2]string{"<none>", "<none>"})
		}
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r[0], r[1], id(img), created, image.HumanSize(img.Size, 3))
		}
	}
	tw.Flush()
	return 0
}

// topLevel leaves out the intermediate images: those without a name that
// another image was made from.
func topLevel(imgs []*image.Image) []*image.Image {
	parents := map[string]bool{}
	for _, img := range imgs {
		parents[img.Parent] = true
	}
	var out []*image.Image
	for _, img := range imgs {
		if len(img.Names) > 0 || !parents[img.Digest] {
			out = append(out, img)
		}
	}
	return out
}

// tagMain is mini tag SOURCE TARGET.
func tagMain(args []string) int {
	fs, root, err := imageFlags("tag", "tag SOURCE TARGET", args, nil)
	if err != nil {
		return fail(err)
	}
	if fs.NArg() != 2 {
		return fail(errors.New("tag: give a SOURCE and a TARGET: mini tag busybox localhost:5000/busybox:1"))
	}
	dst, err := image.ParseReference(fs.Arg(1))
	if err != nil {
		return fail(err)
	}
	if dst.Digest != "" {
		return fail(fmt.Errorf("tag: %s: a tag cannot name a digest", fs.Arg(1)))
	}
	s, err := image.Open(root, false)
	if err != nil {
		return fail(err)
	}
	if err := s.Tag(fs.Arg(0), dst); err != nil {
		return fail(notFound(fs.Arg(0), err))
	}
	return 0
}

// rmiMain is mini rmi NAME...: "Untagged: ..." and "Deleted: ..." lines;
// an image a container uses is refused. Like docker rmi, it goes on with
// the next name after a failure, and fails at the end.
func rmiMain(args []string) int {
	var runRoot string
	fs, root, err := imageFlags("rmi", "rmi NAME...", args, func(fs *pflag.FlagSet) {
		fs.StringVar(&runRoot, "root", envOr("MINI_ROOT", "/run/mini"), "mini run's --root, where containers say which image they use ($MINI_ROOT, else /run/mini)")
	})
	if err != nil {
		return fail(err)
	}
	if fs.NArg() == 0 {
		return fail(errors.New("rmi: name at least one image: mini rmi NAME..."))
	}
	s, err := image.Open(root, false)
	if err != nil {
		return fail(err)
	}
	code := 0
	for _, arg := range fs.Args() {
		users, err := imageUsers(runRoot)
		if err != nil {
			return fail(err)
		}
		lines, err := s.Remove(arg, users)
		for _, l := range lines {
			fmt.Println(l)
		}
		if err != nil {
			code = fail(notFound(arg, err))
		}
	}
	return code
}

// notFound says "No such image" as docker does.
func notFound(arg string, err error) error {
	if errors.Is(err, image.ErrNotFound) {
		return fmt.Errorf("no such image: %s", arg)
	}
	return err
}

// imageTool becomes bin/mini-image with args (pull, load or save and
// their flags): execve(2), so that one process runs the command, which a
// Ctrl-C or a SIGKILL stops, nothing left running behind it.
func imageTool(args []string) int {
	path, err := imageToolPath()
	if err != nil {
		return fail(err)
	}
	err = unix.Exec(path, append([]string{"mini-image"}, args...), os.Environ())
	return fail(fmt.Errorf("execve %s: %w", path, err))
}

// imageToolPath finds bin/mini-image: beside mini itself (make build puts
// both in bin/; /usr/local/bin/mini is a link to bin/mini), else on $PATH.
func imageToolPath() (string, error) {
	if self, err := os.Executable(); err == nil {
		if self, err = filepath.EvalSymlinks(self); err == nil {
			p := filepath.Join(filepath.Dir(self), "mini-image")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("mini-image"); err == nil {
		return p, nil
	}
	return "", errors.New("mini-image is not beside mini nor on $PATH: run 'make build', which builds both (pull, push, load and save are in it)")
}

// pullForRun pulls an image mini run needs, as docker run does: progress
// on stderr when it is a terminal, nothing otherwise; a failure is one
// line, returned.
func pullForRun(dataRoot, name string) error {
	path, err := imageToolPath()
	if err != nil {
		return err
	}
	args := []string{"pull", "--data-root", dataRoot, name}
	tty := steps.IsTerminal(os.Stderr)
	if tty {
		ref, _ := image.ParseReference(name)
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", ref.Familiar())
	} else {
		args = append(args[:1], append([]string{"-q"}, args[1:]...)...)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if tty {
		cmd.Stdout = os.Stderr
	}
	// The pull dies with mini (prctl(2) PR_SET_PDEATHSIG), which is sent
	// when the thread that started it exits: keep this one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Run(); err != nil {
		msg := strings.TrimPrefix(strings.TrimSpace(stderr.String()), "mini: ")
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return nil
}

// imageUsers maps image ids to the containers under runRoot made from them,
// running or stopped: their states say which (Spec.ImageID). mini rmi
// refuses to remove an image while one uses it: a container's own layer
// sits on the image's.
func imageUsers(runRoot string) (map[string][]string, error) {
	all, err := container.List(runRoot)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, c := range all {
		if c.Spec != nil && c.Spec.ImageID != "" {
			users[c.Spec.ImageID] = append(users[c.Spec.ImageID], c.ID)
		}
	}
	return users, nil
}
