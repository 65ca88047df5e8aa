package telemetry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

func openSeq(t *testing.T, path string, block uint64) *FileSequence {
	t.Helper()
	s, err := OpenFileSequence(FileSequenceConfig{Path: path, Block: block})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func next(t *testing.T, s SequenceStore) uint64 {
	t.Helper()
	n, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFileSequenceResumesAfterCleanClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq")
	s := openSeq(t, path, 10)
	for want := uint64(1); want <= 25; want++ {
		if got := next(t, s); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	s = openSeq(t, path, 10)
	defer s.Close()
	if got := next(t, s); got != 26 {
		t.Fatalf("after clean close got %d, want 26", got)
	}
}

// TestRollbackSequenceAfterCrash simulates a crash in-process: the store is
// abandoned without Close. The reopened store skips the rest of the block
// instead of reusing numbers.
func TestRollbackSequenceAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq")
	s := openSeq(t, path, 10)
	var last uint64
	for i := 0; i < 13; i++ {
		last = next(t, s)
	}
	unlockFile(s.lock) // the process "dies": the kernel drops the lock
	s2 := openSeq(t, path, 10)
	defer s2.Close()
	if got := next(t, s2); got <= last {
		t.Fatalf("after crash got %d, last handed out %d: reuse", got, last)
	} else if got != 21 {
		t.Fatalf("after crash got %d, want 21 (next block)", got)
	}
}

func TestFileSequenceRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":      "",
		"truncated":  string(encodeSeqFile(1000))[:10],
		"bit flip":   "iomt-seq v1 2000 " + strconv.FormatUint(uint64(crcOf("iomt-seq v1 1000")), 16) + "\n",
		"zero":       string(encodeSeqFile(0)),
		"garbage":    "hello\n",
		"huge":       string(make([]byte, 100)),
		"no newline": string(encodeSeqFile(5))[:len(encodeSeqFile(5))-1],
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o600)
		if s, err := OpenFileSequence(FileSequenceConfig{Path: path}); !errors.Is(err, ErrSequenceCorrupt) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: got %v, want ErrSequenceCorrupt", name, err)
		}
	}
}

func crcOf(s string) uint32 { return crc32.Checksum([]byte(s), crcTable) }

func TestFileSequenceIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq")
	s := openSeq(t, path, 0)
	defer s.Close()
	if s2, err := OpenFileSequence(FileSequenceConfig{Path: path}); err == nil {
		s2.Close()
		t.Fatal("second open of a sequence file in use succeeded")
	}
}

func TestFileSequenceExhausted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq")
	os.WriteFile(path, encodeSeqFile(1<<64-3), 0o600)
	s := openSeq(t, path, 0)
	defer s.Close()
	got := []uint64{next(t, s), next(t, s)}
	if got[0] != 1<<64-3 || got[1] != 1<<64-2 {
		t.Fatalf("got %v", got)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrSequenceExhausted) {
		t.Fatalf("got %v, want ErrSequenceExhausted", err)
	}
}

func TestFileSequenceConcurrentUnique(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq")
	s := openSeq(t, path, 7)
	defer s.Close()
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				n, err := s.Next(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[n] {
					t.Errorf("%d handed out twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 800 {
		t.Fatalf("%d numbers", len(seen))
	}
}

func TestSequenceStoresHonourContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := openSeq(t, filepath.Join(t.TempDir(), "seq"), 0)
	defer s.Close()
	for _, st := range []SequenceStore{s, NewMemorySequence(0)} {
		if _, err := st.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("%T: %v", st, err)
		}
	}
	m := NewMemorySequence(1<<64 - 2)
	if next(t, m) != 1<<64-1 {
		t.Fatal("last number")
	}
	if _, err := m.Next(context.Background()); !errors.Is(err, ErrSequenceExhausted) {
		t.Fatal(err)
	}
}

const crashChildEnv = "IOMT_TELEMETRY_SEQ_CRASH_CHILD"

// TestRollbackSequenceKilledWriter re-executes the test binary as a child
// that takes sequence numbers as fast as it can and prints each one, and
// kills it with SIGKILL at varying points — often in the middle of
// reserving a block, since the block is tiny. Across all runs, no number
// may ever be printed twice or go backwards.
func TestRollbackSequenceKilledWriter(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("running as the crash child")
	}
	path := filepath.Join(t.TempDir(), "seq")
	var last uint64
	total := 0
	for round := 0; round < 12; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSequenceCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		killAfter := 1 + (round*37)%90
		read := 0
		for sc.Scan() {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				continue // test framework output
			}
			if n <= last {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: got %d after %d: number reused", round, n, last)
			}
			last = n
			read++
			total++
			if read == killAfter {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
		}
		cmd.Wait()
		if read < killAfter {
			t.Fatalf("round %d: child printed %d numbers before dying on its own", round, read)
		}
	}
	t.Logf("%d numbers over 12 killed writers, none reused; last %d", total, last)
}

// TestSequenceCrashChild is the child of TestRollbackSequenceKilledWriter.
func TestSequenceCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("only runs as the crash child")
	}
	s, err := OpenFileSequence(FileSequenceConfig{Path: path, Block: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for i := 0; i < 1_000_000; i++ {
		n, err := s.Next(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Fprintf(os.Stdout, "%d\n", n)
	}
	os.Exit(4)
}
