package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// SequenceStore hands out a device's envelope sequence numbers. Next must
// never return a number twice — not even across crashes and power loss —
// and must return strictly increasing numbers. Gaps are allowed. It must be
// safe for concurrent use.
type SequenceStore interface {
	Next(ctx context.Context) (uint64, error)
}

// DefaultSequenceBlock is how many numbers a [FileSequence] reserves per
// disk write.
const DefaultSequenceBlock = 1024

// FileSequenceConfig configures [OpenFileSequence]. Path is required; the
// zero value of every other field is ready to use.
type FileSequenceConfig struct {
	// Path of the sequence file. Its directory must exist. The file is part
	// of the device's identity: deleting or restoring an old copy of it
	// makes the device reuse numbers, which verifiers reject as replays
	// until the numbers pass the old highest one.
	Path string
	// Block is how many numbers are reserved per write: a crash loses at
	// most Block-1 numbers (they are skipped, never reused), and one fsync
	// is paid per Block numbers. Zero means DefaultSequenceBlock.
	Block uint64
}

// FileSequence is a crash-safe [SequenceStore] backed by one small file.
//
// The file records a reservation: every number below it may have been
// handed out. Opening resumes at the reservation, so numbers handed out
// before a crash are never handed out again. When the numbers reserved run
// out, Next writes the new reservation to a temporary file in the same
// directory, fsyncs it, renames it over the old one and fsyncs the
// directory before returning a number from the new block. The file holds a
// CRC-32C; a corrupt or truncated file fails with [ErrSequenceCorrupt]
// instead of restarting from one. On Unix an exclusive flock on Path+".lock"
// keeps a second process (or a second FileSequence) from opening the same
// file; the kernel drops it when the process dies.
//
// Numbers start at 1. FileSequence is safe for concurrent use. Create it
// with [OpenFileSequence]; the zero value is not usable.
type FileSequence struct {
	path  string
	block uint64
	lock  *os.File

	mu     sync.Mutex
	next   uint64 // next number to hand out
	limit  uint64 // persisted reservation: numbers < limit may be used
	closed bool
}

var _ SequenceStore = (*FileSequence)(nil)

const seqMagic = "iomt-seq v1 "

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// OpenFileSequence opens or creates the sequence file at cfg.Path. cfg is
// not retained.
func OpenFileSequence(cfg FileSequenceConfig) (*FileSequence, error) {
	if cfg.Path == "" {
		return nil, errors.New("telemetry: FileSequenceConfig.Path is required")
	}
	if cfg.Block == 0 {
		cfg.Block = DefaultSequenceBlock
	}
	lock, err := lockFile(cfg.Path + ".lock")
	if err != nil {
		return nil, err
	}
	s := &FileSequence{path: cfg.Path, block: cfg.Block, lock: lock}
	// Temporary files left by a crash during persist hold no state the
	// renamed file lacks; remove them.
	if old, err := filepath.Glob(filepath.Join(filepath.Dir(cfg.Path), "."+filepath.Base(cfg.Path)+".tmp*")); err == nil {
		for _, name := range old {
			os.Remove(name)
		}
	}
	b, err := os.ReadFile(cfg.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.next, s.limit = 1, 1
	case err != nil:
		unlockFile(lock)
		return nil, fmt.Errorf("telemetry: sequence file: %w", err)
	default:
		limit, err := decodeSeqFile(b)
		if err != nil {
			unlockFile(lock)
			return nil, err
		}
		s.next, s.limit = limit, limit
	}
	return s, nil
}

func decodeSeqFile(b []byte) (uint64, error) {
	// "iomt-seq v1 <limit> <crc32c hex>\n"
	if len(b) > 64 || !bytes.HasPrefix(b, []byte(seqMagic)) || !bytes.HasSuffix(b, []byte("\n")) {
		return 0, ErrSequenceCorrupt
	}
	body := b[:len(b)-1]
	sp := bytes.LastIndexByte(body, ' ')
	if sp <= len(seqMagic) {
		return 0, ErrSequenceCorrupt
	}
	sum, err := strconv.ParseUint(string(body[sp+1:]), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum(body[:sp], crcTable) {
		return 0, ErrSequenceCorrupt
	}
	limit, err := strconv.ParseUint(string(body[len(seqMagic):sp]), 10, 64)
	if err != nil || limit == 0 {
		return 0, ErrSequenceCorrupt
	}
	// Only the exact encoding this package writes is trusted.
	if !bytes.Equal(encodeSeqFile(limit), b) {
		return 0, ErrSequenceCorrupt
	}
	return limit, nil
}

func encodeSeqFile(limit uint64) []byte {
	b := strconv.AppendUint([]byte(seqMagic), limit, 10)
	sum := crc32.Checksum(b, crcTable)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(sum), 16)
	return append(b, '\n')
}

// Next implements SequenceStore.
func (s *FileSequence) Next(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.next == 0 { // wrapped past the largest number
		return 0, ErrSequenceExhausted
	}
	if s.next >= s.limit {
		limit := s.next + s.block
		if limit < s.next {
			limit = 1<<64 - 1
		}
		if limit == s.next {
			return 0, ErrSequenceExhausted
		}
		if err := s.persist(limit); err != nil {
			return 0, err
		}
		s.limit = limit
	}
	n := s.next
	s.next++
	return n, nil
}

// persist atomically replaces the file with reservation limit.
func (s *FileSequence) persist(limit uint64) error {
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("telemetry: sequence file: %w", err)
	}
	name := tmp.Name()
	_, err = tmp.Write(encodeSeqFile(limit))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, s.path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("telemetry: sequence file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("telemetry: sequence file: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path returns the sequence file's path.
func (s *FileSequence) Path() string { return s.path }

// Close records the exact next number, so that a clean shutdown skips no
// numbers, and releases the lock. Next fails with [ErrClosed] afterwards.
func (s *FileSequence) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.next != 0 && s.next < s.limit {
		err = s.persist(s.next)
	}
	unlockFile(s.lock)
	return err
}

// MemorySequence is a SequenceStore in memory, starting after the number
// it is created with. It is NOT crash-safe — a restarted device would reuse
// numbers — and exists for tests, examples and tools that sign one-off
// envelopes. The zero value starts at 1. It is safe for concurrent use.
type MemorySequence struct {
	mu   sync.Mutex
	last uint64
}

var _ SequenceStore = (*MemorySequence)(nil)

// NewMemorySequence returns a MemorySequence whose first number is last+1.
func NewMemorySequence(last uint64) *MemorySequence { return &MemorySequence{last: last} }

// Next implements SequenceStore.
func (m *MemorySequence) Next(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == 1<<64-1 {
		return 0, ErrSequenceExhausted
	}
	m.last++
	return m.last, nil
}
