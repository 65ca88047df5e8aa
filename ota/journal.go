package ota

import (
	"context"
	"encoding/json"
	"fmt"
)

// Journal persists the [Updater]'s state; each Save must be atomic and
// durable before it returns. [FileJournal] is the file implementation.
type Journal interface {
	// Load returns the last saved entry, or an error wrapping
	// fs.ErrNotExist when none was saved.
	Load(ctx context.Context) (*JournalEntry, error)
	// Save replaces the entry atomically and durably.
	Save(ctx context.Context, j *JournalEntry) error
}

// JournalEntry is the persisted update state.
type JournalEntry struct {
	State UpdateState `json:"state"`
	// Target is the slot being written; Previous the slot to fall back to.
	Target   SlotID `json:"target,omitempty"`
	Previous SlotID `json:"previous,omitempty"`
	// Manifest is the signed manifest being installed.
	Manifest []byte `json:"manifest,omitempty"`
	// Written is the durable download checkpoint in bytes.
	Written int64 `json:"written,omitempty"`
	// Tries counts bootloader try requests; Boots counts trial boots.
	Tries int `json:"tries,omitempty"`
	Boots int `json:"boots,omitempty"`
	// Reason is why the update was rolled back or restarted; Rule is its
	// label from [Rule].
	Reason string `json:"reason,omitempty"`
	Rule   string `json:"rule,omitempty"`
}

// maxJournalBytes bounds a journal file: the manifest, base64-encoded, plus
// the other fields.
const maxJournalBytes = MaxManifestBytes*4/3 + 4096

var _ Journal = (*FileJournal)(nil)

// FileJournal stores the journal in one file, replaced atomically.
type FileJournal struct{ path string }

// NewFileJournal returns a journal at path; its directory must exist.
func NewFileJournal(path string) *FileJournal { return &FileJournal{path: path} }

// Load implements [Journal].
func (f *FileJournal) Load(ctx context.Context) (*JournalEntry, error) {
	b, err := readBounded(f.path, maxJournalBytes)
	if err != nil {
		return nil, err
	}
	return parseJournal(b)
}

// parseJournal decodes and checks a journal file's content.
func parseJournal(b []byte) (*JournalEntry, error) {
	var j JournalEntry
	if err := decodeStrict("journal", b, &j); err != nil {
		return nil, err
	}
	switch j.State {
	case StateIdle, StateCommitted:
	case StateDownloading, StateVerified, StateInstalled, StateTrial, StateCommitting, StateRolledBack:
		if !j.Target.Valid() || j.Previous != j.Target.Other() || len(j.Manifest) == 0 {
			return nil, malformed("journal", "target")
		}
	default:
		return nil, malformed("journal", "state")
	}
	return &j, nil
}

// Save implements [Journal].
func (f *FileJournal) Save(ctx context.Context, j *JournalEntry) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("ota: encode journal: %w", err)
	}
	return writeFileAtomic(f.path, b, 0o600)
}
