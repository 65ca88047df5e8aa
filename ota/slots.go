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
	"sync"
)

// SlotID names one of the two A/B image slots.
type SlotID string

// The two slots.
const (
	SlotA SlotID = "a"
	SlotB SlotID = "b"
)

// Other returns the other slot.
func (s SlotID) Other() SlotID {
	if s == SlotA {
		return SlotB
	}
	return SlotA
}

// Valid reports whether s is SlotA or SlotB.
func (s SlotID) Valid() bool { return s == SlotA || s == SlotB }

// SlotFile is an open slot: a partition or a file. *os.File satisfies it.
type SlotFile interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes written data durable.
	Sync() error
	Close() error
}

// Slots gives access to the A/B image slots. A real implementation opens
// block devices (e.g. /dev/mmcblk0p2 and p3); [FileSlots] uses files.
type Slots interface {
	// OpenSlot opens slot for reading and writing.
	OpenSlot(ctx context.Context, slot SlotID) (SlotFile, error)
}

// Bootloader controls which slot boots, like U-Boot's bootcount/altbootcmd,
// GRUB's grub-reboot, or MCUboot's test/confirm.
type Bootloader interface {
	// Booted returns the slot the running system booted from.
	Booted(ctx context.Context) (SlotID, error)
	// Primary returns the committed slot the bootloader falls back to.
	Primary(ctx context.Context) (SlotID, error)
	// Try arranges for the next boots to try slot, falling back to the
	// primary when its boot-attempt limit is exhausted. Idempotent.
	Try(ctx context.Context, slot SlotID) error
	// Confirm makes slot the primary and ends any trial. Idempotent.
	Confirm(ctx context.Context, slot SlotID) error
}

var (
	_ Slots      = FileSlots{}
	_ Bootloader = (*FileBootloader)(nil)
)

// FileSlots stores slots as files slot-a.img and slot-b.img in Dir, for
// tests, simulators and examples.
type FileSlots struct {
	// Dir holds the slot files; it must exist.
	Dir string
}

// OpenSlot implements [Slots].
func (s FileSlots) OpenSlot(ctx context.Context, slot SlotID) (SlotFile, error) {
	if !slot.Valid() {
		return nil, &FieldError{Doc: "slots", Field: "slot"}
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "slot-"+string(slot)+".img"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ota: open slot: %w", err)
	}
	return f, nil
}

// FileBootloader simulates a bootloader with a boot-attempt limit, keeping
// its environment in a JSON file (like U-Boot's env). Call
// [FileBootloader.Boot] to simulate power-on. Safe for concurrent use within
// one process.
type FileBootloader struct {
	path        string
	maxAttempts int
	mu          sync.Mutex
}

// bootEnv is the simulated bootloader environment.
type bootEnv struct {
	Primary  SlotID `json:"primary"`
	Trial    SlotID `json:"trial,omitempty"`
	Attempts int    `json:"attempts"`
	Booted   SlotID `json:"booted"`
}

// NewFileBootloader returns a bootloader whose environment is the file at
// path. A missing file means primary and booted slot A. maxAttempts is how
// often a trial slot is booted before falling back (zero means 3).
func NewFileBootloader(path string, maxAttempts int) *FileBootloader {
	if maxAttempts <= 0 {
		maxAttempts = 3
	}
	return &FileBootloader{path: path, maxAttempts: maxAttempts}
}

func (b *FileBootloader) load() (bootEnv, error) {
	raw, err := readBounded(b.path, 4096)
	if errors.Is(err, fs.ErrNotExist) {
		return bootEnv{Primary: SlotA, Booted: SlotA}, nil
	}
	if err != nil {
		return bootEnv{}, err
	}
	var e bootEnv
	if err := decodeStrict("bootloader", raw, &e); err != nil {
		return bootEnv{}, err
	}
	if !e.Primary.Valid() || !e.Booted.Valid() || (e.Trial != "" && !e.Trial.Valid()) {
		return bootEnv{}, malformed("bootloader", "slot")
	}
	return e, nil
}

func (b *FileBootloader) save(e bootEnv) error {
	raw, _ := json.Marshal(e)
	return writeFileAtomic(b.path, raw, 0o600)
}

func (b *FileBootloader) update(fn func(*bootEnv)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.load()
	if err != nil {
		return err
	}
	fn(&e)
	return b.save(e)
}

// Boot simulates power-on: a pending trial slot boots while it has attempts
// left (each boot uses one), then the bootloader gives up on it and boots
// the primary. It returns the booted slot.
func (b *FileBootloader) Boot() (SlotID, error) {
	var booted SlotID
	err := b.update(func(e *bootEnv) {
		if e.Trial != "" && e.Attempts < b.maxAttempts {
			e.Attempts++
			e.Booted = e.Trial
		} else {
			e.Trial, e.Attempts = "", 0
			e.Booted = e.Primary
		}
		booted = e.Booted
	})
	return booted, err
}

// Booted implements [Bootloader].
func (b *FileBootloader) Booted(ctx context.Context) (SlotID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.load()
	return e.Booted, err
}

// Primary implements [Bootloader].
func (b *FileBootloader) Primary(ctx context.Context) (SlotID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.load()
	return e.Primary, err
}

// Try implements [Bootloader].
func (b *FileBootloader) Try(ctx context.Context, slot SlotID) error {
	if !slot.Valid() {
		return &FieldError{Doc: "bootloader", Field: "slot"}
	}
	return b.update(func(e *bootEnv) {
		if e.Trial != slot {
			e.Trial, e.Attempts = slot, 0
		}
	})
}

// Confirm implements [Bootloader].
func (b *FileBootloader) Confirm(ctx context.Context, slot SlotID) error {
	if !slot.Valid() {
		return &FieldError{Doc: "bootloader", Field: "slot"}
	}
	return b.update(func(e *bootEnv) {
		e.Primary, e.Trial, e.Attempts = slot, "", 0
	})
}
