package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

// The build and commit scenarios' commands: a base image in the store, and
// a listing of a file tree to compare two images by.
func init() {
	commands["baseimage"] = cmdBaseImage
	commands["treelist"] = cmdTreeList
}

// baseimage NAME: put rootfs/busybox in the store ($MINI_DATA_ROOT) as the
// one-layer image NAME, with a PATH and CMD sh, as docker's busybox image
// has them: an OCI layout made with mkimage, loaded with mini load.
func cmdBaseImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: baseimage NAME")
	}
	dir := ts.MkAbs(".baseimage")
	ts.Check(os.MkdirAll(dir, 0o755))
	config := filepath.Join(dir, "config.json")
	ts.Check(os.WriteFile(config, []byte(`{"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}`), 0o644))
	layout := filepath.Join(dir, "layout")
	cmdMkimage(ts, false, []string{"-config", config, layout, "latest", ts.Getenv("IMAGE")})
	ts.Check(ts.Exec("tar", "-C", layout, "-cf", filepath.Join(dir, "image.tar"), "."))
	ts.Check(ts.Exec("mini", "load", "-i", filepath.Join(dir, "image.tar")))
	id := strings.TrimSpace(strings.TrimPrefix(ts.ReadFile("stdout"), "Loaded image ID: "))
	ts.Check(ts.Exec("mini", "tag", id, args[0]))
	os.RemoveAll(dir)
}

// treelist DIR OUT: write to OUT every path under DIR with its type,
// owner, mode, size (regular files) and link target, sorted: two images'
// trees compare with cmp.
func cmdTreeList(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: treelist DIR OUT")
	}
	root := ts.MkAbs(args[0])
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			line += fmt.Sprintf(" %d", fi.Size())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	ts.Check(err)
	sort.Strings(lines)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}
