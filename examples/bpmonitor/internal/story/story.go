// Package story prints what the example stack is doing as a readable story:
// one line per event, with a time, who acted and what happened.
//
//	08:30:02  phone app       registered a patient → patient 3f2a9c1e…
//	08:30:03  monitor 7b1d…   reading stored (seq 1, 128/82 mmHg, pulse 71)
//
// Events carry identifiers and numbers only. Callers must never pass PHI
// (names, birth dates, contact details) into a story line: the story is
// printed to a terminal and often pasted into bug reports.
//
// A Printer is safe for concurrent use; lines never interleave.
package story

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Printer writes story lines to an io.Writer.
type Printer struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	n   int
}

// New returns a Printer writing to w. now supplies the time of each line;
// nil means time.Now. A nil w discards the story.
func New(w io.Writer, now func() time.Time) *Printer {
	if w == nil {
		w = io.Discard
	}
	if now == nil {
		now = time.Now
	}
	return &Printer{w: w, now: now}
}

// Tell prints one event: actor did what. Arguments are formatted with
// fmt.Sprintf(format, args...). Newlines are replaced, so one event is always
// one line. A nil Printer does nothing.
func (p *Printer) Tell(actor, format string, args ...any) {
	if p == nil {
		return
	}
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	fmt.Fprintf(p.w, "%s  %-16s %s\n", p.now().Format("15:04:05"), actor, msg)
}

// Count returns the number of lines told so far.
func (p *Printer) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// Short returns the first 8 characters of an identifier followed by an
// ellipsis: enough to tell devices apart in a story line.
func Short(id fmt.Stringer) string {
	s := id.String()
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}
