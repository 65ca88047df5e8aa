package story

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

func TestTellOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 1, 1, 8, 30, 2, 0, time.UTC)
	p := New(&buf, func() time.Time { return at })
	id := iomt.MustParseDeviceID("7b1d3c2e-0f4a-4b5c-8d6e-7f8091a2b3c4")
	p.Tell("monitor "+Short(id), "reading stored (seq %d)\ninjected", 1)
	want := "08:30:02  monitor 7b1d3c2e… reading stored (seq 1) injected\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
	if p.Count() != 1 {
		t.Fatalf("Count = %d", p.Count())
	}
}

func TestTellConcurrentLinesDoNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				p.Tell("actor", "event %d", j)
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("lines = %d", len(lines))
	}
	for _, l := range lines {
		if !strings.Contains(l, "actor") || !strings.Contains(l, "event") {
			t.Fatalf("torn line %q", l)
		}
	}
	var nilP *Printer
	nilP.Tell("x", "y") // must not panic
}
