package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// bar shows a long command's progress on stderr: a bar redrawn in place on
// a terminal; elsewhere (a log, a pipe) the command prints lines instead.
type bar struct {
	w               io.Writer
	off, tty, drawn bool
}

func newBar(w io.Writer, quiet bool) *bar {
	b := &bar{w: w, off: quiet}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

// draw redraws the bar on a terminal: label, done of total filled (full
// when total is not known), then tail.
func (b *bar) draw(label string, done, total int64, tail string) {
	const width = 30
	filled := int64(width)
	if total > 0 {
		filled = width * min(done, total) / total
	}
	fmt.Fprintf(b.w, "\r%s [%s%s] %s\x1b[K", label, strings.Repeat("#", int(filled)), strings.Repeat(".", width-int(filled)), tail)
	b.drawn = true
}

// line prints msg on a line of its own, below the bar if one is drawn.
func (b *bar) line(msg string) {
	b.done()
	fmt.Fprintln(b.w, msg)
}

// done ends the bar's line.
func (b *bar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
