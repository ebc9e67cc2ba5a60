package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"mini/mini/image"
)

// Main is bin/mini-image: mini pull, push, load and save. mini runs it with the
// same arguments ("mini pull busybox" runs "mini-image pull busybox"): the
// registry client and the archive code it needs would make every start of
// bin/mini slower, and mini starts twice a container (docs/images.md).
// It returns the exit code: 0, or 125 with one line on stderr.
func Main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "mini-image: runs mini pull, push, load and save: use those")
		return 125
	}
	var err error
	switch args[0] {
	case "pull":
		err = pullMain(args[1:])
	case "load":
		err = loadMain(args[1:])
	case "save":
		err = saveMain(args[1:])
	case "push":
		err = pushMain(args[1:])
	case "put-layer": // bin/mini's, for commit and build
		err = putLayerMain(args[1:])
	case "unpack": // bin/mini's, for build's ADD
		err = unpackMain(args[1:])
	default:
		err = fmt.Errorf("mini-image: unknown command %q: it runs mini pull, push, load and save", args[0])
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errNotArchive) {
		return image.NotArchive
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mini: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return 125
	}
	return 0
}

// flags makes a subcommand's flag set with --data-root, and parses args.
var flags = image.ParseFlags

func pullMain(args []string) error {
	var opt PullOptions
	fs, root, err := flags("pull", "pull [--insecure] [-q] NAME", args, func(fs *pflag.FlagSet) {
		fs.BoolVar(&opt.Insecure, "insecure", false, "allow plain HTTP to a registry not on this machine")
		fs.BoolVarP(&opt.Quiet, "quiet", "q", false, "print only the image's name")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("pull: give one image name: mini pull NAME (busybox, debian:12, localhost:5000/x/y:tag)")
	}
	s, err := image.Open(root, true)
	if err != nil {
		return err
	}
	opt.Out = os.Stdout
	if _, err := Pull(context.Background(), s, fs.Arg(0), opt); err != nil {
		return err
	}
	// The last line, as docker pull's: the image's full name.
	ref, _ := image.ParseReference(fs.Arg(0))
	fmt.Println(ref.String())
	return nil
}

func pushMain(args []string) error {
	var opt PushOptions
	fs, root, err := flags("push", "push [--insecure] [-q] NAME[:TAG]", args, func(fs *pflag.FlagSet) {
		fs.BoolVar(&opt.Insecure, "insecure", false, "allow plain HTTP to a registry not on this machine")
		fs.BoolVarP(&opt.Quiet, "quiet", "q", false, "print nothing but errors")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("push: give one image name: mini push NAME[:TAG] (localhost:5000/x/y:tag)")
	}
	s, err := image.Open(root, false)
	if err != nil {
		return err
	}
	opt.Out = os.Stdout
	return Push(context.Background(), s, fs.Arg(0), opt)
}

func loadMain(args []string) error {
	var opt LoadOptions
	var input string
	_, root, err := flags("load", "load [-i FILE] [-q]", args, func(fs *pflag.FlagSet) {
		fs.StringVarP(&input, "input", "i", "", "read the archive from FILE, not from stdin")
		fs.BoolVarP(&opt.Quiet, "quiet", "q", false, "print nothing but errors")
	})
	if err != nil {
		return err
	}
	in := os.Stdin
	if input != "" {
		f, err := os.Open(input)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		defer f.Close()
		in = f
	} else if isTerminal(os.Stdin) {
		return errors.New("load: the archive comes on stdin, which is a terminal: use -i FILE or redirect")
	}
	s, err := image.Open(root, true)
	if err != nil {
		return err
	}
	opt.Out = os.Stdout
	if err := Load(s, in, opt); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return nil
}

func saveMain(args []string) error {
	var output string
	fs, root, err := flags("save", "save [-o FILE] NAME...", args, func(fs *pflag.FlagSet) {
		fs.StringVarP(&output, "output", "o", "", "write the archive to FILE, not to stdout")
	})
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("save: name at least one image: mini save -o FILE NAME...")
	}
	s, err := image.Open(root, false)
	if err != nil {
		return err
	}
	if output != "" {
		return SaveFile(s, fs.Args(), output)
	}
	if isTerminal(os.Stdout) {
		return errors.New("save: refusing to write an archive to a terminal: use -o FILE or redirect")
	}
	return Save(s, fs.Args(), os.Stdout)
}
