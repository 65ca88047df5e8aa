package ota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/openiomt/sdk/internal/atomicfile"
)

// CounterStore holds the anti-rollback security counter. A file
// ([FileCounterStore]) suits tests and devices with protected storage; a TPM
// NV counter or a secure element implements the same interface. The counter
// only ever grows; the [Updater] advances it only when a new slot is
// committed after a successful trial boot.
type CounterStore interface {
	// Load returns the current counter (zero if never set).
	Load(ctx context.Context) (uint64, error)
	// Advance sets the counter to v. v equal to the current value is a
	// no-op; v below it fails with ErrCounterDecrease. It returns only once
	// the new value is durable.
	Advance(ctx context.Context, v uint64) error
}

// TrustStore persists a device's [TrustedState].
type TrustStore interface {
	// Load returns the stored state; a store never written returns
	// fs.ErrNotExist (wrapped).
	Load(ctx context.Context) (TrustedState, error)
	// Save replaces the state atomically and durably.
	Save(ctx context.Context, s TrustedState) error
}

var (
	_ CounterStore = (*FileCounterStore)(nil)
	_ TrustStore   = (*FileTrustStore)(nil)
)

// FileCounterStore keeps the counter in one file, replaced atomically
// (temporary file in the same directory, fsync, rename, fsync of the
// directory). It is safe for concurrent use within one process.
type FileCounterStore struct {
	path string
	mu   sync.Mutex
}

// NewFileCounterStore returns a store backed by path. The file is created on
// the first Advance; its directory must exist.
func NewFileCounterStore(path string) *FileCounterStore {
	return &FileCounterStore{path: path}
}

// Load implements [CounterStore].
func (s *FileCounterStore) Load(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load()
}

func (s *FileCounterStore) load() (uint64, error) {
	b, err := readBounded(s.path, 64)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, &FieldError{Doc: "counter", Field: "value"}
	}
	return v, nil
}

// Advance implements [CounterStore].
func (s *FileCounterStore) Advance(ctx context.Context, v uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.load()
	if err != nil {
		return err
	}
	if v < cur {
		return fmt.Errorf("%w: %d below %d", ErrCounterDecrease, v, cur)
	}
	if v == cur {
		if _, err := os.Stat(s.path); err == nil {
			return nil
		}
	}
	return writeFileAtomic(s.path, []byte(strconv.FormatUint(v, 10)+"\n"), 0o600)
}

// FileTrustStore keeps a [TrustedState] in one JSON file, replaced
// atomically, so the root and the manifest version always change together.
type FileTrustStore struct {
	path string
}

// NewFileTrustStore returns a store backed by path; its directory must exist.
func NewFileTrustStore(path string) *FileTrustStore { return &FileTrustStore{path: path} }

type trustFile struct {
	ManifestVersion uint64          `json:"manifest_version"`
	Root            json.RawMessage `json:"root"`
}

// Load implements [TrustStore].
func (s *FileTrustStore) Load(ctx context.Context) (TrustedState, error) {
	b, err := readBounded(s.path, MaxStateBytes)
	if err != nil {
		return TrustedState{}, err
	}
	return parseTrustFile(b)
}

// parseTrustFile decodes a trusted-state file's content.
func parseTrustFile(b []byte) (TrustedState, error) {
	var f trustFile
	if err := decodeStrict("state", b, &f); err != nil {
		return TrustedState{}, err
	}
	if len(f.Root) == 0 {
		return TrustedState{}, malformed("state", "root")
	}
	return TrustedState{Root: []byte(f.Root), ManifestVersion: f.ManifestVersion}, nil
}

// Save implements [TrustStore].
func (s *FileTrustStore) Save(ctx context.Context, st TrustedState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !json.Valid(st.Root) {
		return malformed("state", "root")
	}
	b, err := json.Marshal(trustFile{ManifestVersion: st.ManifestVersion, Root: st.Root})
	if err != nil {
		return fmt.Errorf("ota: encode state: %w", err)
	}
	return writeFileAtomic(s.path, b, 0o600)
}

// readBounded reads a small file, refusing more than max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ota: open %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("ota: read %s: %w", filepath.Base(path), err)
	}
	if int64(len(b)) > max {
		return nil, &LimitError{Name: "MaxStateBytes", Limit: max}
	}
	return b, nil
}

// writeFileAtomic replaces path so that a power cut leaves either the old
// or the new content.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	return nil
}
