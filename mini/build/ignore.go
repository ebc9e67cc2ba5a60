package build

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// .dockerignore, in the context's root, leaves files out of the build
// context: COPY and ADD do not see them. One pattern a line, docker's rules
// (its patternmatcher package):
//
//	# a comment          a line starting with # is one
//	*.log                 * is any run of characters but /, ? one of them
//	**/tmp                ** (a whole segment) is any number of directories, none included
//	build                 a directory is left out with all it holds
//	!build/keep           ! takes back what an earlier line left out
//
// The last line that matches a path, or one of its parent directories,
// decides. Paths are relative to the context; a leading / is dropped.

// ignore is the patterns of a .dockerignore, in order.
type ignore []ignorePattern

type ignorePattern struct {
	segs    []string // the pattern split at each /
	exclude bool     // false for a "!" line
}

// parseIgnore reads a .dockerignore.
func parseIgnore(r io.Reader) (ignore, error) {
	var ig ignore
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		p := ignorePattern{exclude: true}
		if line[0] == '!' {
			p.exclude, line = false, strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		if _, err := path.Match(line, ""); err != nil {
			return nil, fmt.Errorf(".dockerignore:%d: %q: %v", n, line, err)
		}
		p.segs = strings.Split(line, "/")
		ig = append(ig, p)
	}
	return ig, sc.Err()
}

// excluded says whether rel (a clean path relative to the context) is left
// out.
func (ig ignore) excluded(rel string) bool {
	out := false
	for _, p := range ig {
		if p.matches(rel) {
			out = p.exclude
		}
	}
	return out
}

// matches: rel, or a directory it is in.
func (p ignorePattern) matches(rel string) bool {
	segs := strings.Split(rel, "/")
	for n := len(segs); n > 0; n-- {
		if matchSegs(p.segs, segs[:n]) {
			return true
		}
	}
	return false
}

// matchSegs matches a path, split at each /, against a pattern split the
// same way: "**" is any number of segments, none included; any other
// segment is path.Match's (*, ?, [...], \).
func matchSegs(pattern, segs []string) bool {
	if len(pattern) == 0 {
		return len(segs) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if matchSegs(pattern[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, _ := path.Match(pattern[0], segs[0])
	return ok && matchSegs(pattern[1:], segs[1:])
}
