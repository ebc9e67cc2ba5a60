package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"mini/mini/image"
)

// historyMain is mini history NAME: how the image was made, one line per
// step of its config's history, the newest first, as docker history shows
// it: the image that step made if the store still has it (a build's
// steps), the instruction, and the size of the layer it added (0B for a
// step that changed only the config).
func historyMain(args []string) int {
	var noTrunc, quiet bool
	fs, root, err := imageFlags("history", "history [--no-trunc] [-q] NAME", args, func(fs *pflag.FlagSet) {
		fs.BoolVar(&noTrunc, "no-trunc", false, "print whole ids and instructions")
		fs.BoolVarP(&quiet, "quiet", "q", false, "print only the images' ids")
	})
	if err != nil {
		return fail(err)
	}
	if fs.NArg() != 1 {
		return fail(errors.New("history: name one image: mini history NAME"))
	}
	s, err := image.Open(root, false)
	if err != nil {
		return fail(err)
	}
	img, err := s.Resolve(fs.Arg(0))
	if err != nil {
		return fail(notFound(fs.Arg(0), err))
	}
	rows, err := historyRows(s, img)
	if err != nil {
		return fail(err)
	}
	tw := tabwriter.NewWriter(os.Stdout, 10, 1, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	}
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		id := "<missing>"
		if r.id != "" {
			id = image.Short(r.id)
			if noTrunc {
				id = r.id
			}
		}
		if quiet {
			fmt.Fprintln(tw, id)
			continue
		}
		created := "N/A"
		if r.h.Created != nil && !r.h.Created.IsZero() {
			created = image.HumanDuration(time.Since(*r.h.Created)) + " ago"
		}
		by := strings.Join(strings.Fields(r.h.CreatedBy), " ")
		if !noTrunc && len(by) > 45 {
			by = by[:44] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, created, by, image.HumanSize(r.size, 3), r.h.Comment)
	}
	tw.Flush()
	return 0
}

// historyRow is one step of an image's history.
type historyRow struct {
	h    image.History
	id   string // the image that step made, if the store has it
	size int64
}

// historyRows pairs the history's entries with the layers (each entry not
// marked empty_layer made the next one) and with the images of the store
// that the steps made: img, then its parent, and so on, each one entry
// shorter.
func historyRows(s *image.Store, img *image.Image) ([]historyRow, error) {
	hist := img.Config.History
	ids := img.Config.RootFS.DiffIDs
	if len(hist) == 0 { // an image without history: one row per layer
		for range ids {
			hist = append(hist, image.History{})
		}
	}
	rows := make([]historyRow, len(hist))
	layer := 0
	for i, h := range hist {
		rows[i].h = h
		if !h.EmptyLayer && layer < len(ids) {
			size, err := s.LayerSize(ids[layer])
			if err != nil {
				return nil, err
			}
			rows[i].size = size
			layer++
		}
	}
	for i, cur := len(rows)-1, img; i >= 0 && cur != nil; i-- {
		rows[i].id = cur.ID
		parent, err := s.Resolve(cur.Parent)
		if err != nil {
			break
		}
		if parent.Config.CompleteHistory(); len(parent.Config.History) != i {
			break
		}
		cur = parent
	}
	return rows, nil
}
