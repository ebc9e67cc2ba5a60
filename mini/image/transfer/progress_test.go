package transfer

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Not on a terminal: a line per change of state, no byte counts.
func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false)
	p.line("v1: Pulling from x")
	p.set("aaaaaaaaaaaa", "Pulling fs layer")
	p.bytes("aaaaaaaaaaaa", 10, 100)
	p.set("aaaaaaaaaaaa", "Pull complete")
	want := "v1: Pulling from x\naaaaaaaaaaaa: Pulling fs layer\naaaaaaaaaaaa: Pull complete\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b.Reset()
	q := newProgress(&b, true)
	q.line("x")
	q.set("a", "b")
	if b.Len() != 0 {
		t.Errorf("quiet: %q", b.String())
	}
}

// On a terminal: the layers' lines are rewritten in place.
func TestProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	p := &progress{out: &b, tty: true, state: map[string]string{}}
	p.set("a", "Pulling fs layer")
	p.set("b", "Pulling fs layer")
	p.set("a", "Pull complete")
	want := "\x1b[2Ka: Pulling fs layer\n" +
		"\x1b[1A\x1b[2Ka: Pulling fs layer\n\x1b[2Kb: Pulling fs layer\n" +
		"\x1b[2A\x1b[2Ka: Pull complete\n\x1b[2Kb: Pulling fs layer\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		n, total int64
		want     string
	}{
		{0, 2000, "[>                                                 ]       0B/2kB"},
		{1000, 2000, "[=========================>                        ]      1kB/2kB"},
		{2000, 2000, "[==================================================]      2kB/2kB"},
	} {
		if got := bar(tc.n, tc.total); got != tc.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tc.n, tc.total, got, tc.want)
		}
	}
}
