package outbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func open(t *testing.T, dir string, cfg Config) *Outbox {
	t.Helper()
	o, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func mustAppend(t *testing.T, o *Outbox, topic string, p []byte) ID {
	t.Helper()
	id, err := o.Append(context.Background(), topic, p)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return id
}

func TestAppendClaimAckReopen(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Config{})
	var ids []ID
	for i := range 10 {
		ids = append(ids, mustAppend(t, o, "iomt/v1/d/telemetry/blood_pressure", []byte(fmt.Sprintf("p%d", i))))
	}
	got := o.Claim(3)
	if len(got) != 3 || got[0].ID != ids[0] || string(got[2].Payload) != "p2" {
		t.Fatalf("Claim(3) = %+v", got)
	}
	if again := o.Claim(2); again[0].ID != ids[3] {
		t.Fatalf("claimed entry returned twice: %+v", again)
	}
	o.Release(ids[1])
	if r := o.Claim(1); r[0].ID != ids[1] {
		t.Fatalf("released entry not first: %+v", r)
	}
	for _, id := range ids[:5] {
		if err := o.Ack(id); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if err := o.Ack(ids[0]); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("double Ack = %v, want ErrUnknownID", err)
	}
	if st := o.Stats(); st.Entries != 5 || st.Claimed != 0 || st.Acked != 5 {
		t.Fatalf("Stats = %+v", st)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o2 := open(t, dir, Config{})
	rest := o2.Claim(100)
	if len(rest) != 5 {
		t.Fatalf("after reopen %d entries, want 5", len(rest))
	}
	for i, e := range rest {
		if e.ID != ids[5+i] || string(e.Payload) != fmt.Sprintf("p%d", 5+i) || e.Topic != "iomt/v1/d/telemetry/blood_pressure" {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
	if id := mustAppend(t, o2, "t", nil); id <= ids[9] {
		t.Fatalf("ID %d reused after reopen", id)
	}
}

func TestOutboxFullRejectsNewNeverDrops(t *testing.T) {
	o := open(t, t.TempDir(), Config{MaxEntries: 3, MaxBytes: 1 << 20})
	for range 3 {
		mustAppend(t, o, "t", []byte("x"))
	}
	if _, err := o.Append(context.Background(), "t", []byte("x")); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("4th Append = %v, want ErrOutboxFull", err)
	}
	if n := len(o.Claim(10)); n != 3 {
		t.Fatalf("%d entries kept, want 3", n)
	}
	ob := open(t, t.TempDir(), Config{MaxBytes: 10})
	mustAppend(t, ob, "t", []byte("12345678"))
	if _, err := ob.Append(context.Background(), "t", []byte("12")); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("over MaxBytes = %v, want ErrOutboxFull", err)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	o := open(t, t.TempDir(), Config{MaxEntryBytes: 16})
	ctx := context.Background()
	for _, topic := range []string{"", "a/+/b", "a/#", "a\x00b", strings.Repeat("a", MaxTopicBytes+1)} {
		if _, err := o.Append(ctx, topic, nil); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("topic len %d: %v, want ErrInvalidTopic", len(topic), err)
		}
	}
	if _, err := o.Append(ctx, "t", make([]byte, 17)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize = %v, want ErrTooLarge", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := o.Append(cctx, "t", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx = %v", err)
	}
	o.Close()
	if _, err := o.Append(ctx, "t", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close = %v, want ErrClosed", err)
	}
}

func TestOpenTwiceIsLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Config{})
	if _, err := Open(dir, Config{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestSegmentsDeletedWhenAcked(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Config{SegmentBytes: 256})
	var ids []ID
	for range 50 {
		ids = append(ids, mustAppend(t, o, "t", bytes.Repeat([]byte("x"), 40)))
	}
	if o.Stats().Segments < 5 {
		t.Fatalf("expected rotation, got %d segments", o.Stats().Segments)
	}
	o.Claim(100)
	for _, id := range ids {
		if err := o.Ack(id); err != nil {
			t.Fatal(err)
		}
	}
	if s := o.Stats().Segments; s != 1 {
		t.Fatalf("%d segments after acking everything, want 1", s)
	}
	o.Close()
	if o2 := open(t, dir, Config{}); o2.Stats().Entries != 0 {
		t.Fatalf("acked entries came back: %+v", o2.Stats())
	}
}

// One old unacknowledged entry must not pin unbounded disk space.
func TestCompactionBoundsDiskWithStuckEntry(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 512, MaxBytes: 2048}
	o := open(t, dir, cfg)
	stuck := mustAppend(t, o, "stuck", []byte("oldest"))
	for range 500 {
		id := mustAppend(t, o, "t", bytes.Repeat([]byte("y"), 50))
		if err := o.Ack(id); err != nil {
			t.Fatal(err)
		}
	}
	if s := o.Stats().Segments; s > o.maxSegments()+1 {
		t.Fatalf("%d segments, bound %d", s, o.maxSegments()+1)
	}
	o.Close()
	o2 := open(t, dir, cfg)
	got := o2.Claim(10)
	if len(got) != 1 || got[0].ID != stuck || string(got[0].Payload) != "oldest" {
		t.Fatalf("after compaction and reopen: %+v", got)
	}
}

func TestConcurrentAppendGroupCommit(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Config{SegmentBytes: 4096})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if _, err := o.Append(context.Background(), "t", []byte(fmt.Sprintf("%d-%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	o.Close()
	o2 := open(t, dir, Config{})
	if n := o2.Stats().Entries; n != 400 {
		t.Fatalf("%d entries recovered, want 400", n)
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return m
}

// A power cut in the middle of a write leaves a torn record at the tail.
func TestTornTailQuarantinedOnce(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Config{})
	for i := range 5 {
		mustAppend(t, o, "t", []byte(fmt.Sprintf("entry-%d", i)))
	}
	o.Close()
	seg := segFiles(t, dir)[0]
	b, _ := os.ReadFile(seg)
	if err := os.WriteFile(seg, b[:len(b)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	o2 := open(t, dir, Config{})
	q := o2.Quarantined()
	if len(q) != 1 || q[0].Reason != "torn" {
		t.Fatalf("Quarantined = %+v", q)
	}
	if _, err := os.Stat(q[0].File); err != nil {
		t.Fatalf("quarantine file: %v", err)
	}
	if n := o2.Stats().Entries; n != 4 {
		t.Fatalf("%d entries, want 4", n)
	}
	o2.Close()
	o3 := open(t, dir, Config{})
	if q := o3.Quarantined(); len(q) != 0 {
		t.Fatalf("quarantined again on next Open: %+v", q)
	}
	if n := o3.Stats().Entries; n != 4 {
		t.Fatalf("%d entries, want 4", n)
	}
}

// A flipped bit in the middle loses only the damaged record.
func TestTamperedRecordQuarantinedRestRecovered(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Config{})
	for i := range 5 {
		mustAppend(t, o, "t", []byte(fmt.Sprintf("entry-%d", i)))
	}
	o.Close()
	seg := segFiles(t, dir)[0]
	b, _ := os.ReadFile(seg)
	rec := len(b) / 5
	b[2*rec+headerLen+5] ^= 0x40 // inside the third record's body
	os.WriteFile(seg, b, 0o600)
	o2 := open(t, dir, Config{})
	if q := o2.Quarantined(); len(q) != 1 || q[0].Reason != "corrupt" {
		t.Fatalf("Quarantined = %+v", q)
	}
	var got []string
	for _, e := range o2.Claim(10) {
		got = append(got, string(e.Payload))
	}
	if strings.Join(got, ",") != "entry-0,entry-1,entry-3,entry-4" {
		t.Fatalf("recovered %v", got)
	}
}

// TestCrashSIGKILL re-executes the test binary as a child that appends
// entries and reports each ID on stdout once Append returned, then kills it
// with SIGKILL mid-stream. Every reported entry must be recovered intact.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), "OUTBOX_CRASH_CHILD="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var acked []string
		for sc.Scan() && len(acked) < 200+round*50 {
			if strings.HasPrefix(sc.Text(), "ok ") {
				acked = append(acked, strings.TrimPrefix(sc.Text(), "ok "))
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if len(acked) == 0 {
			t.Fatal("child reported nothing")
		}
		o, err := Open(dir, Config{SegmentBytes: 2048})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		have := map[string]string{}
		for _, e := range o.Claim(1 << 20) {
			have[strconv.FormatUint(uint64(e.ID), 10)] = string(e.Payload)
		}
		for _, id := range acked {
			p, ok := have[id]
			if !ok {
				t.Fatalf("round %d: entry %s acknowledged by Append but lost after SIGKILL", round, id)
			}
			if p != "payload-"+id {
				t.Fatalf("round %d: entry %s corrupted", round, id)
			}
		}
		// Acknowledge half so the next round also exercises ack records.
		i := 0
		for id := range have {
			if i%2 == 0 {
				n, _ := strconv.ParseUint(id, 10, 64)
				o.Ack(ID(n))
			}
			i++
		}
		o.Close()
	}
}

// TestCrashChild is the child process of TestCrashSIGKILL.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("OUTBOX_CRASH_CHILD")
	if dir == "" {
		t.Skip("child process of TestCrashSIGKILL")
	}
	o, err := Open(dir, Config{SegmentBytes: 2048})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	w := bufio.NewWriter(os.Stdout)
	next := ID(0)
	for {
		// Payload names the ID the entry will get, so the parent can check
		// contents; IDs are assigned in order under the lock, so predict it.
		st := o.Stats()
		_ = st
		id, err := o.Append(context.Background(), "iomt/v1/x/telemetry/t", []byte("payload-"+strconv.FormatUint(uint64(o.peekNextID()), 10)))
		if err != nil {
			fmt.Println("append error:", err)
			os.Exit(3)
		}
		if id < next {
			os.Exit(4)
		}
		next = id
		fmt.Fprintf(w, "ok %d\n", id)
		w.Flush()
		if id%3 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}
