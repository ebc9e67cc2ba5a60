package image

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
)

// ParseFlags makes an image command's flag set, with --data-root, lets
// define add the command's own flags (define may be nil), and parses args.
// It returns the flags and the store's directory. mini's image commands
// and bin/mini-image's share it.
func ParseFlags(cmd, usage string, args []string, define func(fs *pflag.FlagSet)) (*pflag.FlagSet, string, error) {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataRoot := fs.String("data-root", DefaultRoot(), "where images are kept ($MINI_DATA_ROOT, else /var/lib/mini)")
	if define != nil {
		define(fs)
	}
	fs.Usage = func() { fmt.Fprintf(os.Stdout, "Usage: mini %s\n\nFlags:\n%s", usage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, "", err // pflag has printed the usage (fs.Usage)
		}
		return nil, "", fmt.Errorf("%s: %v (usage: mini %s)", cmd, err, usage)
	}
	return fs, *dataRoot, nil
}
