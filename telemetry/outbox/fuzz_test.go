package outbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to recovery as a segment file. Open must
// never panic or fail on damaged content, and whatever it quarantines must
// be gone on the next Open (reported once, never looped on).
func FuzzOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendEntry(nil, 1, "iomt/v1/d/telemetry/glucose", []byte(`{"v":1}`)))
	two := appendEntry(nil, 7, "t", []byte("abc"))
	two = appendAck(two, 7)
	two = appendEntry(two, 8, "t", []byte("def"))
	f.Add(two)
	f.Add(append(append([]byte{}, two...), "IOX1\x00\x00"...))
	f.Add([]byte("IOX1\xff\xff\xff\xff\xff\xff\xff\xffgarbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Config{MaxEntryBytes: 1 << 10, UnsafeNoSync: true}
		o, err := Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		n := o.Stats().Entries
		if _, err := o.Append(context.Background(), "t", []byte("new")); err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		o.Close()
		o2, err := Open(dir, cfg)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer o2.Close()
		if q := o2.Quarantined(); len(q) != 0 {
			t.Fatalf("quarantined again: %+v", q)
		}
		if m := o2.Stats().Entries; m != n+1 {
			t.Fatalf("entries %d then %d", n, m)
		}
	})
}
