package build

import (
	"errors"
	"fmt"
	"strings"
)

// Words as a Dockerfile spells them: FROM, COPY, ADD, ENV, ARG, LABEL,
// EXPOSE, USER and WORKDIR expand $NAME and ${NAME} from the build's
// variables (ENV's, then ARG's) and take quotes away, the way docker's
// shell lexer does (not a shell: no globbing, no command substitution).
// RUN, CMD and ENTRYPOINT are left alone: their shell expands them when
// they run.
//
//	'...'   literal, no expansion
//	"..."   expansion; \" \$ and \\ are the characters themselves
//	\x      x itself, outside quotes (the escape character: \ or `)
//	$NAME ${NAME}            the value, "" if not set
//	${NAME:-word} ${NAME-word} word if NAME is unset (or empty, with the :)
//	${NAME:+word} ${NAME+word} word if NAME is set (and not empty, with the :)

// lexer expands words with lookup.
type lexer struct {
	lookup func(name string) (string, bool)
	escape byte
}

// word is one word: quotes removed, variables expanded, spaces kept.
func (l lexer) word(s string) (string, error) {
	w, err := l.scan(s, false)
	if err != nil {
		return "", err
	}
	return strings.Join(w, ""), nil
}

// words splits s on white space outside quotes, each word expanded. A
// variable's value is never split again.
func (l lexer) words(s string) ([]string, error) { return l.scan(s, true) }

func (l lexer) scan(s string, split bool) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false // a word has begun: even "" is one
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case split && (c == ' ' || c == '\t' || c == '\n'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case c == l.escape:
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("a ' is not closed")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			n, err := l.double(s[i+1:], &cur)
			if err != nil {
				return nil, err
			}
			i += n
		case c == '$':
			n, err := l.dollar(s[i+1:], &cur)
			if err != nil {
				return nil, err
			}
			i += n
		default:
			cur.WriteByte(c)
		}
		inWord = true
	}
	if inWord || !split {
		out = append(out, cur.String())
	}
	return out, nil
}

// double reads a double-quoted string up to its closing quote (s starts
// after the opening one) into cur, and returns how much of s it took.
func (l lexer) double(s string, cur *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1, nil
		case c == l.escape && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '$' || s[i+1] == l.escape):
			i++
			cur.WriteByte(s[i])
		case c == '$':
			n, err := l.dollar(s[i+1:], cur)
			if err != nil {
				return 0, err
			}
			i += n
		default:
			cur.WriteByte(c)
		}
	}
	return 0, errors.New(`a " is not closed`)
}

// dollar expands what follows a $ (s starts after it) into cur, and returns
// how much of s it took. A $ before anything but a name or a { is itself.
func (l lexer) dollar(s string, cur *strings.Builder) (int, error) {
	if s == "" || s[0] != '{' {
		n := nameLen(s)
		if n == 0 {
			cur.WriteByte('$')
			return 0, nil
		}
		v, _ := l.lookup(s[:n])
		cur.WriteString(v)
		return n, nil
	}
	end := closing(s)
	if end < 0 {
		return 0, fmt.Errorf("a ${ is not closed in %q", "$"+s)
	}
	inner := s[1:end]
	n := nameLen(inner)
	if n == 0 {
		return 0, fmt.Errorf("${%s}: not a variable name", inner)
	}
	name, op := inner[:n], inner[n:]
	v, set := l.lookup(name)
	colon := strings.HasPrefix(op, ":")
	if colon {
		op = op[1:]
		set = set && v != ""
	}
	switch {
	case op == "" && !colon:
		cur.WriteString(v)
	case op != "" && op[0] == '-':
		if !set {
			w, err := l.word(op[1:])
			if err != nil {
				return 0, err
			}
			v = w
		}
		cur.WriteString(v)
	case op != "" && op[0] == '+':
		if set {
			w, err := l.word(op[1:])
			if err != nil {
				return 0, err
			}
			cur.WriteString(w)
		}
	default:
		return 0, fmt.Errorf("${%s}: mini knows ${NAME}, ${NAME:-word} and ${NAME:+word}", inner)
	}
	return end + 1, nil
}

// nameLen is the length of the variable name s starts with: a letter or
// _, then letters, digits and _.
func nameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return i
		}
	}
	return len(s)
}

// closing is the index of the } that closes the { s starts with, nested
// braces counted; -1 if none.
func closing(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}
