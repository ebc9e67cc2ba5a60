// Package build is mini build: a Dockerfile read, its instructions run one
// by one, each making an image in the store (mini/image) on top of the one
// before, as docker's classic builder does. RUN is a container (mini run's
// own code path, which mini gives the builder: Runner); COPY, ADD and
// WORKDIR write into the image's layers mounted with an upper directory of
// their own (rootfs.go); either way the upper directory becomes the step's
// layer (overlay.Diff). See docs/build.md.
package build

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Instruction is one instruction of a Dockerfile, as written.
type Instruction struct {
	File string // the Dockerfile, as -f named it
	Line int    // where the instruction starts, from 1
	Cmd  string // the keyword, upper case: "RUN"
	// Flags are the --name=value words after the keyword (COPY --chown=1:1).
	Flags []string
	// Rest is the rest of the instruction, continuation lines joined and
	// the flags taken out.
	Rest string
	// Exec is the JSON array of the exec form (RUN ["a", "b"]), and IsExec
	// says Rest is one.
	Exec   []string
	IsExec bool
	// Escape is the escape character: \, or ` after "# escape=`".
	Escape byte
}

// String is the instruction as docker's "Step N/M : ..." line shows it.
func (in Instruction) String() string {
	s := in.Cmd
	for _, f := range in.Flags {
		s += " " + f
	}
	if in.Rest != "" {
		s += " " + in.Rest
	}
	return s
}

// errorf is an error that names the Dockerfile and the line: "Dockerfile:3: ...".
func (in Instruction) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", in.File, in.Line, fmt.Sprintf(format, args...))
}

// The instructions mini build runs, and those docker has that it does not:
// a Dockerfile with one of those is refused before anything is built.
var (
	supported = map[string]bool{
		"FROM": true, "RUN": true, "COPY": true, "ADD": true, "ENV": true, "ARG": true, "WORKDIR": true,
		"USER": true, "CMD": true, "ENTRYPOINT": true, "LABEL": true, "EXPOSE": true,
	}
	unsupported = map[string]bool{
		"VOLUME": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true, "ONBUILD": true, "MAINTAINER": true,
	}
	supportedList = "FROM, RUN, COPY, ADD, ENV, ARG, WORKDIR, USER, CMD, ENTRYPOINT, LABEL, EXPOSE"
)

// Parse reads a Dockerfile: comments, blank lines, line continuations (a
// line ending with the escape character, \ unless a "# escape=`"
// directive says otherwise) and parser directives, as docker's parser
// does; then checks each instruction's form. file names it in errors.
func Parse(file string, r io.Reader) ([]Instruction, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	escape := byte('\\')
	var out []Instruction
	var cur *Instruction
	directives := true // parser directives come first, before anything else
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(line)
		if directives {
			if k, v, ok := directive(trimmed); ok {
				if k == "escape" {
					if v != "\\" && v != "`" {
						return nil, fmt.Errorf("%s:%d: escape directive %q: the escape character is \\ or `", file, n, v)
					}
					escape = v[0]
				}
				continue
			}
			directives = false
		}
		// A comment, or a blank line, is nothing, even inside a
		// continuation (docker drops both there).
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		cont := line[len(line)-1] == escape
		if cont {
			line = line[:len(line)-1]
		}
		if cur == nil {
			cur = &Instruction{File: file, Line: n, Escape: escape}
			cur.Rest = strings.TrimLeft(line, " \t")
		} else {
			cur.Rest += line
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if cur != nil {
		out = append(out, *cur) // a continuation at the end of the file ends it
	}
	for i := range out {
		if err := out[i].split(); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: the Dockerfile has no instruction: it starts with FROM", file)
	}
	if out[0].Cmd != "FROM" && out[0].Cmd != "ARG" {
		return nil, out[0].errorf("%s: a Dockerfile starts with FROM (ARG may come before it)", out[0].Cmd)
	}
	froms := 0
	for _, in := range out {
		if in.Cmd == "FROM" {
			if froms++; froms > 1 {
				return nil, in.errorf("a second FROM: multi-stage builds are not supported by mini build (one FROM per Dockerfile)")
			}
		}
	}
	if froms == 0 {
		return nil, fmt.Errorf("%s: the Dockerfile has no FROM: give the image it starts from (or FROM scratch)", file)
	}
	return out, nil
}

// directive reads a parser directive line: "# escape=`", "# syntax=...".
func directive(line string) (key, value string, ok bool) {
	rest, found := strings.CutPrefix(line, "#")
	if !found {
		return "", "", false
	}
	k, v, found := strings.Cut(rest, "=")
	k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
	if !found || k != "escape" && k != "syntax" && k != "check" {
		return "", "", false // a comment
	}
	return k, v, true
}

// split takes the keyword, the flags and the exec form out of Rest, and
// checks the instruction's form: what can be told before anything runs.
func (in *Instruction) split() error {
	word, rest := in.Rest, ""
	if i := strings.IndexAny(in.Rest, " \t"); i >= 0 {
		word, rest = in.Rest[:i], in.Rest[i+1:]
	}
	in.Cmd, in.Rest = strings.ToUpper(word), strings.TrimSpace(rest)
	switch {
	case unsupported[in.Cmd]:
		return in.errorf("%s is not supported by mini build (it knows %s)", in.Cmd, supportedList)
	case !supported[in.Cmd]:
		return in.errorf("unknown instruction: %s (mini build knows %s)", word, supportedList)
	}
	for strings.HasPrefix(in.Rest, "--") {
		flag, rest := in.Rest, ""
		if i := strings.IndexAny(in.Rest, " \t"); i >= 0 {
			flag, rest = in.Rest[:i], in.Rest[i+1:]
		}
		in.Flags = append(in.Flags, flag)
		in.Rest = strings.TrimSpace(rest)
	}
	switch in.Cmd {
	case "RUN", "CMD", "ENTRYPOINT", "COPY", "ADD":
		if strings.HasPrefix(in.Rest, "[") {
			var a []string
			// Not an array of strings: docker takes it as the shell form.
			if json.Unmarshal([]byte(in.Rest), &a) == nil {
				in.Exec, in.IsExec = a, true
			}
		}
	}
	if err := in.checkFlags(); err != nil {
		return err
	}
	fields := strings.Fields(in.Rest)
	switch in.Cmd {
	case "FROM":
		if len(fields) != 1 && !(len(fields) == 3 && strings.EqualFold(fields[1], "AS")) {
			return in.errorf("FROM takes an image, and optionally AS NAME: FROM busybox, FROM debian:12 AS base")
		}
	case "RUN":
		if in.Rest == "" || in.IsExec && len(in.Exec) == 0 {
			return in.errorf("RUN needs a command")
		}
	case "CMD", "ENTRYPOINT":
		if in.Rest == "" {
			return in.errorf("%s needs a command: %s [\"executable\", \"arg\"] or %s command line", in.Cmd, in.Cmd, in.Cmd)
		}
	case "COPY", "ADD":
		if in.IsExec && len(in.Exec) < 2 || !in.IsExec && len(fields) < 2 {
			return in.errorf("%s needs a source and a destination: %s SRC... DEST", in.Cmd, in.Cmd)
		}
	case "ENV", "LABEL":
		if len(fields) == 0 {
			return in.errorf("%s needs at least one KEY=VALUE", in.Cmd)
		}
		if in.Cmd == "ENV" && !strings.Contains(fields[0], "=") && len(fields) < 2 {
			return in.errorf("ENV %s has no value: ENV KEY=VALUE (or ENV KEY VALUE)", fields[0])
		}
	case "ARG":
		if len(fields) != 1 {
			return in.errorf("ARG takes one NAME[=DEFAULT]")
		}
	case "WORKDIR", "USER":
		if len(fields) != 1 {
			return in.errorf("%s takes exactly one argument", in.Cmd)
		}
	case "EXPOSE":
		if len(fields) == 0 {
			return in.errorf("EXPOSE needs at least one PORT[/PROTO]")
		}
	}
	return nil
}

// checkFlags refuses the flags mini does not know: COPY and ADD take
// --chown; docker's others (--from, --chmod, --link, FROM --platform, RUN
// --mount ...) are BuildKit's or multi-stage's.
func (in *Instruction) checkFlags() error {
	for _, f := range in.Flags {
		name, _, _ := strings.Cut(f, "=")
		if (in.Cmd == "COPY" || in.Cmd == "ADD") && name == "--chown" {
			continue
		}
		return in.errorf("%s %s: mini build does not support this flag (COPY and ADD take --chown=USER[:GROUP])", in.Cmd, name)
	}
	return nil
}

// flag returns the value of --name=VALUE, and whether it was given.
func (in Instruction) flag(name string) (string, bool) {
	for _, f := range in.Flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}
