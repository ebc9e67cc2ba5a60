package build

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	df := `# syntax=docker/dockerfile:1
# a comment
ARG BASE=busybox
FROM $BASE AS base

run echo one \
    two \
# a comment inside a continuation
    three
RUN ["sh", "-c", "echo exec"]
RUN [not json
COPY --chown=1:2 a b /dst/
ENV A=1 B="two words"
CMD echo \
`
	got, err := Parse("Dockerfile", strings.NewReader(df))
	if err != nil {
		t.Fatal(err)
	}
	type short struct {
		Line   int
		Cmd    string
		Flags  []string
		Rest   string
		Exec   []string
		IsExec bool
	}
	var s []short
	for _, in := range got {
		s = append(s, short{in.Line, in.Cmd, in.Flags, in.Rest, in.Exec, in.IsExec})
	}
	want := []short{
		{3, "ARG", nil, "BASE=busybox", nil, false},
		{4, "FROM", nil, "$BASE AS base", nil, false},
		{6, "RUN", nil, "echo one     two     three", nil, false},
		{10, "RUN", nil, `["sh", "-c", "echo exec"]`, []string{"sh", "-c", "echo exec"}, true},
		{11, "RUN", nil, "[not json", nil, false},
		{12, "COPY", []string{"--chown=1:2"}, "a b /dst/", nil, false},
		{13, "ENV", nil, `A=1 B="two words"`, nil, false},
		{14, "CMD", nil, "echo", nil, false},
	}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("Parse (-want +got):\n%s", d)
	}
}

func TestParseEscape(t *testing.T) {
	got, err := Parse("Dockerfile", strings.NewReader("# escape=`\nFROM scratch\nRUN a `\n b\\\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got[1].Rest != `a  b\` || got[1].Escape != '`' {
		t.Errorf("with escape=`: %q, escape %q", got[1].Rest, got[1].Escape)
	}
}

// TestParseErrors: every error names the file and the line.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ df, want string }{
		{"", "df: the Dockerfile has no instruction"},
		{"RUN x\n", "df:1: RUN: a Dockerfile starts with FROM"},
		{"FROM a\nFROOM b\n", "df:2: unknown instruction: FROOM"},
		{"FROM a\n\nHEALTHCHECK CMD true\n", "df:3: HEALTHCHECK is not supported by mini build"},
		{"FROM a\nSHELL [\"bash\"]\n", "df:2: SHELL is not supported"},
		{"FROM a\nFROM b\n", "df:2: a second FROM: multi-stage builds are not supported"},
		{"FROM a\nCOPY --from=x a b\n", "df:2: COPY --from: mini build does not support this flag"},
		{"FROM a\nCOPY a\n", "df:2: COPY needs a source and a destination"},
		{"FROM a\nENV A\n", "df:2: ENV A has no value"},
		{"FROM a\nWORKDIR a b\n", "df:2: WORKDIR takes exactly one argument"},
		{"FROM a b\n", "df:1: FROM takes an image"},
		{"ARG A\n", "df: the Dockerfile has no FROM"},
		{"# escape=x\nFROM a\n", "df:1: escape directive"},
		{"FROM a\nRUN\n", "df:2: RUN needs a command"},
	} {
		_, err := Parse("df", strings.NewReader(c.df))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q...", c.df, err, c.want)
		}
	}
}

func TestWords(t *testing.T) {
	env := map[string]string{"A": "1", "B": "two words", "E": ""}
	l := lexer{escape: '\\', lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`a b  c`, []string{"a", "b", "c"}},
		{`$A ${A}x $Ax`, []string{"1", "1x", ""}},
		{`"$B" '$B' \$A`, []string{"two words", "$B", "$A"}},
		{`$B`, []string{"two words"}}, // a value is not split again
		{`x=""`, []string{"x="}},
		{`""`, []string{""}},
		{`${N:-def} ${E:-def} ${E-def} ${A:+alt} ${N:+alt}`, []string{"def", "def", "", "alt", ""}},
		{`"a \"q\" \$ \\ \x"`, []string{`a "q" $ \ \x`}},
		{`$ $1 a$`, []string{"$", "$1", "a$"}},
		{`${N:-"a b"}`, []string{"a b"}},
	} {
		got, err := l.words(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.in, d)
		}
	}
	for _, bad := range []string{`"open`, `'open`, `${A`, `${A?x}`, `${}`} {
		if _, err := l.words(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if w, _ := l.word(`  keep  $A  `); w != "  keep  1  " {
		t.Errorf("word keeps spaces: %q", w)
	}
}

func TestIgnore(t *testing.T) {
	ig, err := parseIgnore(strings.NewReader("# comment\n*.log\n/build\n!build/keep\n**/tmp\nsecret?\n"))
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]bool{
		"a.log": true, "dir/a.log": false, "build": true, "build/x": true, "build/keep": false,
		"build/keep/y": false, "tmp": true, "a/b/tmp/c": true, "secret1": true, "secret12": false,
		"src/main.go": false,
	} {
		if got := ig.excluded(rel); got != want {
			t.Errorf("%s: excluded %v, want %v", rel, got, want)
		}
	}
	if _, err := parseIgnore(strings.NewReader("[a\n")); err == nil {
		t.Error("a bad pattern: no error")
	}
}
