package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocPictures: every step's doc (docs/NN-*.md) has a picture, a
// ```mermaid block, which GitHub draws, and each picture of every doc
// parses. Mermaid itself needs a browser; this checks the structure of the
// two kinds of diagram the docs use (flowchart, sequenceDiagram) line by
// line: a known diagram type first, quotes and brackets that pair up,
// subgraph and end, each line a statement of its kind.
func TestDocPictures(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	steps := 0
	for _, file := range files {
		var pictures []fenced
		for _, b := range fencedBlocks(t, file) {
			if b.lang == "mermaid" {
				pictures = append(pictures, b)
			}
		}
		if regexp.MustCompile(`^[0-9]{2}-`).MatchString(filepath.Base(file)) {
			steps++
			if len(pictures) == 0 {
				t.Errorf("%s: no picture: a step's doc has a ```mermaid block (a flowchart or a sequenceDiagram)", file)
			}
		}
		for _, p := range pictures {
			if err := checkMermaid(p.lines); err != nil {
				t.Errorf("%s:%d: the picture does not parse: %v", file, p.line, err)
			}
		}
	}
	if steps < 10 {
		t.Errorf("found %d step docs (docs/NN-*.md), want 10: 00 to 09", steps)
	}
}

var (
	// A quoted label, as mermaid reads one: no quote inside.
	quoted = regexp.MustCompile(`"[^"]*"`)
	// flowchart: a node, ID with an optional shape around a quoted label.
	node = `[A-Za-z][A-Za-z0-9_]*(\["Q"\]|\("Q"\)|\{"Q"\}|\(\["Q"\]\)|\[\["Q"\]\]|\(\("Q"\)\))?`
	// flowchart: a link, with an optional |"label"|.
	link         = `(<?(--+|==+|-\.+-)(>|o|x)?)(\|"Q"\|)?`
	flowStmt     = regexp.MustCompile(`^` + node + `(\s*` + link + `\s*` + node + `)*$`)
	flowSubgraph = regexp.MustCompile(`^subgraph [A-Za-z][A-Za-z0-9_]*(\["Q"\])?$`)
	flowID       = regexp.MustCompile(`(^|[\s>|-])([A-Za-z][A-Za-z0-9_]*)`)
	flowKeywords = map[string]bool{"end": true, "call": true, "click": true, "style": true, "class": true, "classDef": true, "linkStyle": true, "subgraph": true, "direction": true, "graph": true, "flowchart": true, "href": true, "callback": true, "default": true}
	flowOther    = regexp.MustCompile(`^(end|direction (TB|TD|BT|RL|LR)|(classDef|class|style|linkStyle|click) .+)$`)
	// sequenceDiagram: a message, FROM ARROW TO: text.
	seqMessage = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*\s*(->>|-->>|->|-->|-x|--x|-\)|--\))[+-]?\s*[A-Za-z][A-Za-z0-9_]*\s*:.*$`)
	seqOther   = regexp.MustCompile(`^(autonumber|(participant|actor) [A-Za-z][A-Za-z0-9_]*( as .+)?|Note (left of|right of|over) .+: .+|(activate|deactivate) .+|else( .*)?|and( .*)?)$`)
	seqBlock   = regexp.MustCompile(`^(loop|alt|opt|par|critical|break|rect)( .*)?$`)
)

// checkMermaid checks one picture's lines.
func checkMermaid(lines []string) error {
	var body []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "%%") {
			body = append(body, l)
		}
	}
	if len(body) == 0 {
		return fmt.Errorf("empty")
	}
	kind := strings.Fields(body[0])
	depth := 0
	for i, l := range body[1:] {
		where := fmt.Sprintf("line %d of the picture, %q", i+2, l)
		if strings.Count(l, `"`)%2 != 0 {
			return fmt.Errorf("%s: a quote is not closed", where)
		}
		// Labels are quoted: what is left must pair up.
		bare := quoted.ReplaceAllString(l, `"Q"`)
		if err := balanced(bare); err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
		switch kind[0] {
		case "flowchart", "graph":
			switch {
			case flowSubgraph.MatchString(bare):
				depth++
			case bare == "end":
				depth--
			case flowOther.MatchString(bare):
			case flowStmt.MatchString(bare):
				// Keywords of the flowchart grammar cannot be node ids.
				for _, m := range flowID.FindAllStringSubmatch(bare, -1) {
					if id := m[2]; flowKeywords[id] {
						return fmt.Errorf("%s: %q is a keyword of mermaid's flowcharts, not a node id: call the node something else", where, id)
					}
				}
			default:
				return fmt.Errorf("%s: not a node, a link, subgraph or end (labels are quoted: A[\"label\"], A -->|\"label\"| B)", where)
			}
		case "sequenceDiagram":
			switch {
			case seqBlock.MatchString(l):
				depth++
			case l == "end":
				depth--
			case seqMessage.MatchString(l) || seqOther.MatchString(l):
				// A ';' ends a statement in a sequence diagram: the rest of
				// the text would be read as one.
				if _, text, ok := strings.Cut(l, ":"); ok && strings.Contains(text, ";") {
					return fmt.Errorf("%s: a ';' in the text ends the statement there: write #59; or say it otherwise", where)
				}
			default:
				return fmt.Errorf("%s: not a participant, a message (A->>B: text), a note or a block", where)
			}
		default:
			return fmt.Errorf("%q: the docs draw flowcharts and sequenceDiagrams: a checker for another kind belongs here first", kind[0])
		}
		if depth < 0 {
			return fmt.Errorf("%s: an end without its subgraph or block", where)
		}
	}
	if depth != 0 {
		return fmt.Errorf("%d subgraph or block(s) not closed with end", depth)
	}
	if kind[0] == "flowchart" || kind[0] == "graph" {
		if len(kind) != 2 || !strings.Contains(" TB TD BT RL LR ", " "+kind[1]+" ") {
			return fmt.Errorf("%q: a flowchart names its direction: flowchart TB, TD, BT, RL or LR", body[0])
		}
	} else if len(kind) != 1 {
		return fmt.Errorf("%q: want %s alone on its line", body[0], kind[0])
	}
	return nil
}

// balanced says whether s's brackets pair up, in order.
func balanced(s string) error {
	var open []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, c := range s {
		switch c {
		case '(', '[', '{':
			open = append(open, c)
		case ')', ']', '}':
			if len(open) == 0 || open[len(open)-1] != pairs[c] {
				return fmt.Errorf("%q closes nothing it opened", c)
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("%q is not closed", open[len(open)-1])
	}
	return nil
}

// TestCheckMermaid: the checker refuses what mermaid would.
func TestCheckMermaid(t *testing.T) {
	good := [][]string{
		{"flowchart LR", `  subgraph h["host"]`, `    a["x (y)"] -->|"label"| b["z"]`, "  end", `  a -.-|"dotted"| c`, `  b ===|"thick"| c`},
		{"sequenceDiagram", "  autonumber", "  participant H as host", "  H->>C: text, more", "  C-->>H: back", "  loop each", "    H->>H: again", "  end"},
	}
	for _, g := range good {
		if err := checkMermaid(g); err != nil {
			t.Errorf("%q: %v", g, err)
		}
	}
	for _, bad := range [][]string{
		{"flowchart"},                                  // no direction
		{"flowhcart LR", "a --> b"},                    // no such diagram
		{"flowchart LR", `a["x] --> b`},                // quote not closed
		{"flowchart LR", `a[x (y] --> b`},              // bracket
		{"flowchart LR", `subgraph s["x"]`, `a --> b`}, // no end
		{"flowchart LR", "end"},                        // end without subgraph
		{"flowchart LR", "a -> b"},                     // not a link
		{"flowchart LR", "a[x y] --> b"},               // unquoted label
		{"flowchart LR", `call["x"] --> b`},            // a keyword as a node id
		{"sequenceDiagram", "H->>C: one; two"},         // ';' ends the statement
		{"sequenceDiagram", "H to C"},                  // not a message
		{"sequenceDiagram", "loop x", "H->>C: y"},      // no end
	} {
		if err := checkMermaid(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestDocCommands: the docs' commands are the same for whoever copies them.
// Each runs bin/mini, the binary make build (and every lab) builds, not
// a mini installed who knows when; with sudo where root is needed: mini
// itself, and the make targets that build into bin/ or run containers. In
// ```console blocks the "$ " lines are commands; in ```sh blocks every line
// but comments.
func TestDocCommands(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	labs, _ := filepath.Glob("../lab/*/README.md")
	files = append(append(files, labs...), "../lab/README.md", "../README.md")
	installed := regexp.MustCompile(`(^|[\s'"(;&|=])(sudo )?mini [a-z]`)
	unsudoed := regexp.MustCompile(`^(bin/mini |make (build|install|test|demo|bench|lab-check|rootfs)\b)`)
	for _, file := range files {
		for _, b := range fencedBlocks(t, file) {
			for i, line := range b.lines {
				trimmed := strings.TrimSpace(line)
				var cmd string
				switch {
				case b.lang == "console" && strings.HasPrefix(trimmed, "$ "):
					cmd = strings.TrimPrefix(trimmed, "$ ")
				case (b.lang == "sh" || b.lang == "bash") && trimmed != "" && !strings.HasPrefix(trimmed, "#"):
					cmd = trimmed
				default:
					continue
				}
				n := b.line + i
				if installed.MatchString(cmd) {
					t.Errorf("%s:%d: %q runs an installed mini: write sudo bin/mini (bin/mini inside sudo sh -c)", file, n+1, cmd)
				}
				if unsudoed.MatchString(cmd) {
					t.Errorf("%s:%d: %q needs root: start it with sudo", file, n+1, cmd)
				}
			}
		}
	}
}
