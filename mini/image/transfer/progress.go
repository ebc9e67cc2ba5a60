package transfer

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"mini/mini/image"
	"mini/steps"
)

// progress shows a pull layer by layer, as docker pull does. On a terminal
// each layer has a line that changes in place ("Downloading [==>  ]
// 1.2MB/3.4MB", then "Pull complete"); elsewhere (a file, a pipe, a test)
// each change of state is a line of its own and byte counts are not shown.
// Layers are fetched at once, so the lines are updated from several
// goroutines.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	tty   bool
	quiet bool
	ids   []string          // the layers' short digests, in order
	state map[string]string // what each line says
	drawn int               // lines on the terminal that are ours to redraw
	last  time.Time
}

func newProgress(out io.Writer, quiet bool) *progress {
	return &progress{out: out, quiet: quiet, tty: isTerminal(out), state: map[string]string{}}
}

// isTerminal says whether w is a terminal (steps.IsTerminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && steps.IsTerminal(f)
}

// line prints a line that is not a layer's ("Digest: ...").
func (p *progress) line(format string, args ...any) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", args...)
	p.drawn = 0 // the layers' lines are above it now, and stay as they are
}

// set sets what a layer's line says; a layer seen first gets a new line.
func (p *progress) set(id, status string) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.state[id]; !ok {
		p.ids = append(p.ids, id)
	}
	p.state[id] = status
	if !p.tty {
		fmt.Fprintf(p.out, "%s: %s\n", id, status)
		return
	}
	p.redraw()
}

// bytes updates a layer's download, on a terminal only, ten times a second
// at most.
func (p *progress) bytes(id string, n, total int64) {
	if p.quiet || !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[id] = "Downloading " + bar(n, total)
	if time.Since(p.last) < 100*time.Millisecond && n != total {
		return
	}
	p.redraw()
}

// redraw rewrites every layer's line: up as many lines as were drawn
// (CSI n A), then each line cleared (CSI 2 K) and written again.
func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, id := range p.ids {
		fmt.Fprintf(&b, "\x1b[2K%s: %s\n", id, p.state[id])
	}
	io.WriteString(p.out, b.String())
	p.drawn = len(p.ids)
	p.last = time.Now()
}

// bar is docker's progress bar: "[=====>      ]  1.2MB/3.4MB".
func bar(n, total int64) string {
	const width = 50
	if total <= 0 {
		return image.HumanSize(n, 4)
	}
	done := int(int64(width) * n / total)
	if done > width {
		done = width
	}
	b := strings.Repeat("=", done)
	if done < width {
		b += ">" + strings.Repeat(" ", width-done-1)
	}
	return fmt.Sprintf("[%s] %8s/%s", b, image.HumanSize(n, 4), image.HumanSize(total, 4))
}
