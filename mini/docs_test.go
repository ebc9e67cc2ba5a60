package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocs runs every shell session shown in docs/*.md, the labs' READMEs and README.md and
// compares what it prints with what the doc shows, so the docs cannot drift
// from the code. A session is a ```console block:
//
//	$ sudo mini run --step 1 --hostname box rootfs/busybox hostname
//	box
//
// "$ " lines are commands, run with sh from the repository's root as root
// (sudo runs the command as it is: sudoShim), with this test's mini in place
// of bin/mini (thisMini); the lines up to
// the next command are its output, stdout and stderr together. In the output
// <id> is 12 hex digits, <n> a number, <ip> an IPv4 address with an optional
// /prefix, <*> anything within a line, and a line "..." any number of lines.
func TestDocs(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv(noSkipVar) == "1" {
			t.Fatalf("the doc sessions run containers: run as root (%s=1 forbids skipping)", noSkipVar)
		}
		t.Skip("the doc sessions run containers: run as root")
	}
	files, _ := filepath.Glob("../docs/*.md")
	labs, _ := filepath.Glob("../lab/*/README.md")
	files = append(append(files, labs...), "../lab/README.md", "../README.md")
	for _, file := range files {
		sessions := parseSessions(t, file)
		if len(sessions) == 0 {
			continue
		}
		name := filepath.Base(file)
		if name == "README.md" { // lab/01-uts/README.md: lab_01-uts_README.md
			name = strings.ReplaceAll(strings.TrimPrefix(file, "../"), "/", "_")
		}
		t.Run(name, func(t *testing.T) {
			env := append(sudoShim(t), testEnv(t)...)
			for _, s := range sessions {
				cmd := exec.Command("sh", "-c", thisMini(t, s.command))
				cmd.Dir = ".."
				cmd.Env = env
				out, _ := cmd.CombinedOutput()
				got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
				if len(out) == 0 {
					got = nil
				}
				if !matchLines(s.want, got) {
					t.Errorf("%s:%d: $ %s\nthe doc shows:\n%s\nmini printed:\n%s", file, s.line, s.command,
						strings.Join(s.want, "\n"), strings.Join(got, "\n"))
				}
			}
		})
	}
}

// sudoShim is the environment with a sudo of its own first on PATH, which
// runs the command as it is: the test is root already, and a machine
// without sudo (a CI container) runs the docs' "sudo ..." all the same.
func sudoShim(t *testing.T) []string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte("#!/bin/sh\nexec env \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
}

// binMini is bin/mini where a command names it: at the start of a word.
var binMini = regexp.MustCompile(`(^|[\s'"(;&|=])bin/mini\b`)

// thisMini makes the doc's bin/mini this test's mini, the one testscript
// puts on PATH: bin/mini is whatever make build last built.
func thisMini(t *testing.T, command string) string {
	path, err := exec.LookPath("mini")
	if err != nil {
		t.Fatalf("this test's mini is not on PATH: %v", err)
	}
	return binMini.ReplaceAllString(command, "${1}"+path)
}

type session struct {
	line    int
	command string
	want    []string
}

// parseSessions reads the ```console blocks of a Markdown file.
func parseSessions(t *testing.T, file string) []session {
	var out []session
	for _, b := range fencedBlocks(t, file) {
		if b.lang != "console" {
			continue
		}
		for i, line := range b.lines {
			line = strings.TrimRight(line, " \t")
			trimmed := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(trimmed, "$ "):
				// sudo is a stand-in that runs the command as it is (the
				// test is root), and bin/mini is this test's mini (thisMini).
				out = append(out, session{line: b.line + 1 + i, command: strings.TrimPrefix(trimmed, "$ ")})
			case len(out) > 0:
				out[len(out)-1].want = append(out[len(out)-1].want, strings.TrimPrefix(line, b.indent))
			}
		}
	}
	return out
}

// fenced is a fenced block of a Markdown file: its language (console,
// mermaid, sh, or ""), the line of its opening fence, and its lines.
type fenced struct {
	lang   string
	line   int
	lines  []string
	indent string // the fence's (a block in a list is indented): the lines keep theirs beyond it
}

// fencedBlocks reads the fenced blocks of a Markdown file.
func fencedBlocks(t *testing.T, file string) []fenced {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fenced
	in := false
	fence := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(trimmed, "```"):
			in, fence = true, indentOf(line, trimmed)
			out = append(out, fenced{lang: strings.TrimPrefix(trimmed, "```"), line: n, indent: fence})
		case in && trimmed == "```":
			in = false
		case in:
			out[len(out)-1].lines = append(out[len(out)-1].lines, line)
		}
	}
	if in {
		t.Errorf("%s: a fenced block is not closed", file)
	}
	return out
}

func indentOf(line, trimmed string) string {
	if trimmed == "" {
		return ""
	}
	return line[:strings.Index(line, trimmed)]
}

var placeholders = strings.NewReplacer(
	regexp.QuoteMeta("<id>"), "[0-9a-f]{12}",
	regexp.QuoteMeta("<n>"), "[0-9]+",
	regexp.QuoteMeta("<ip>"), `[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?`,
	regexp.QuoteMeta("<*>"), ".*",
)

// matchLines matches got against want line by line; a want line "..."
// matches any number of lines.
func matchLines(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(want[0]) == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	if len(got) == 0 {
		return false
	}
	re := regexp.MustCompile("^" + placeholders.Replace(regexp.QuoteMeta(want[0])) + "$")
	return re.MatchString(strings.TrimRight(got[0], " \t")) && matchLines(want[1:], got[1:])
}

// testEnv gives a doc's sessions a state directory of their own.
func testEnv(t *testing.T) []string {
	dir := t.TempDir()
	// From step 5 the container's root is an unprivileged host uid that must
	// pass through to its layers under MINI_ROOT (step 8); the test's
	// temporary directory is 0700.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	// A bridge and a subnet of its own, as each scenario has (script_net_test.go).
	n, err := reserveNet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left := n.release(); len(left) > 0 {
			t.Errorf("left on bridge %s: %v", n.bridge, left)
		}
	})
	// Images too (docs/images.md), and no credentials of the host's.
	return append([]string{"MINI_ROOT=" + filepath.Join(dir, "state"), "MINI_DATA_ROOT=" + filepath.Join(dir, "data"),
		"DOCKER_CONFIG=" + filepath.Join(dir, ".docker")}, n.env()...)
}
