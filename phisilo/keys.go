package phisilo

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KeyManager wraps and unwraps per-patient data keys under a key-encryption
// key (KEK). Implementations must be safe for concurrent use.
//
// The wrapped form starts with a one-byte format tag and the big-endian
// KEK version that wrapped it (see [WrappedKeyVersion]), so the silo can find
// rows under old versions and rewrap them.
type KeyManager interface {
	// Wrap encrypts a data key, binding associatedData (the silo passes the
	// tenant and patient ID) so a wrapped key cannot be moved to another row.
	Wrap(ctx context.Context, dataKey, associatedData []byte) ([]byte, error)
	// Unwrap reverses Wrap. It fails with ErrDecrypt on any mismatch and
	// with ErrKeyRetired for a version below the minimum.
	Unwrap(ctx context.Context, wrapped, associatedData []byte) ([]byte, error)
	// PrimaryVersion is the version new wraps use.
	PrimaryVersion() uint32
}

const wrapTag = 0x01

// WrappedKeyVersion returns the KEK version recorded in a wrapped key.
func WrappedKeyVersion(wrapped []byte) (uint32, error) {
	if len(wrapped) < 5 || wrapped[0] != wrapTag {
		return 0, fmt.Errorf("phisilo: wrapped key format: %w", ErrDecrypt)
	}
	return binary.BigEndian.Uint32(wrapped[1:5]), nil
}

func frameWrapped(version uint32, ct []byte) []byte {
	out := make([]byte, 5, 5+len(ct))
	out[0] = wrapTag
	binary.BigEndian.PutUint32(out[1:5], version)
	return append(out, ct...)
}

// AEADKeyManager uses any [tink.AEAD] as the KEK: an AWS KMS, GCP KMS or
// Vault AEAD from tink-go's KMS extensions plugs in unchanged, as does a
// keyset primitive. Rotation then happens in the KMS; bump Version when the
// KMS key changes so [Silo.Rewrap] can find older rows.
//
// The KMS sees only the data key and the associated data (tenant and
// patient ID), never the record.
type AEADKeyManager struct {
	AEAD    tink.AEAD // required
	Version uint32    // the label written into wrapped keys; 0 is treated as 1
}

var _ KeyManager = (*AEADKeyManager)(nil)

func (m *AEADKeyManager) version() uint32 {
	if m.Version == 0 {
		return 1
	}
	return m.Version
}

// Wrap implements [KeyManager].
func (m *AEADKeyManager) Wrap(ctx context.Context, dataKey, ad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ct, err := m.AEAD.Encrypt(dataKey, ad)
	if err != nil {
		return nil, fmt.Errorf("phisilo: wrap data key: %w", err)
	}
	return frameWrapped(m.version(), ct), nil
}

// Unwrap implements [KeyManager].
func (m *AEADKeyManager) Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := WrappedKeyVersion(wrapped); err != nil {
		return nil, err
	}
	pt, err := m.AEAD.Decrypt(wrapped[5:], ad)
	if err != nil {
		return nil, fmt.Errorf("phisilo: unwrap data key: %w", ErrDecrypt)
	}
	return pt, nil
}

// PrimaryVersion implements [KeyManager].
func (m *AEADKeyManager) PrimaryVersion() uint32 { return m.version() }

// Keyset is the embedded default [KeyManager]: a tink AES-256-GCM keyset
// whose keys are numbered versions 1, 2, … in the order they were added.
// Rotate adds a new primary (old versions still decrypt); SetMinVersion
// disables every version below it, so rows still wrapped under those fail
// with [ErrKeyRetired] — run [Silo.Rewrap] first.
//
// The keyset lives in a file. With a nil master AEAD the file holds the keys
// in clear (mode 0600): anyone who can read it can decrypt every record, so
// production deployments pass a KMS AEAD as master, which encrypts the file.
//
// A Keyset is safe for concurrent use. Changes are written to the file
// (atomically, by rename) before they take effect in memory.
type Keyset struct {
	mu     sync.RWMutex
	path   string
	master tink.AEAD
	handle *keyset.Handle
	prim   tink.AEAD
	ids    []uint32 // key ID of version i+1
	min    uint32
}

var _ KeyManager = (*Keyset)(nil)

// keysetAD binds an encrypted keyset file to its purpose.
var keysetAD = []byte("openiomt/phisilo keyset v1")

// NewKeyset returns a fresh keyset with one key (version 1). With path
// non-empty it is written there; the file must not exist.
func NewKeyset(path string, master tink.AEAD) (*Keyset, error) {
	if path != "" {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("phisilo: new keyset: file exists: %w", ErrExists)
		}
	}
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("phisilo: new keyset: %w", err)
	}
	k := &Keyset{path: path, master: master}
	if err := k.install(h, true); err != nil {
		return nil, err
	}
	return k, nil
}

// OpenKeyset reads a keyset file written by NewKeyset (with the same master).
func OpenKeyset(path string, master tink.AEAD) (*Keyset, error) {
	k := &Keyset{path: path, master: master}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload re-reads the keyset file, picking up a rotation made by another
// process (such as "iomt keys rotate") without a restart.
func (k *Keyset) Reload() error {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("phisilo: read keyset: %w", err)
	}
	if len(b) > 1<<20 {
		return &LimitError{Limit: "keyset file size", Max: 1 << 20}
	}
	var h *keyset.Handle
	if k.master != nil {
		h, err = keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(b)), k.master, keysetAD)
	} else {
		h, err = insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	}
	if err != nil {
		return fmt.Errorf("phisilo: parse keyset: %w", ErrDecrypt)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.installLocked(h, false)
}

func (k *Keyset) install(h *keyset.Handle, save bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.installLocked(h, save)
}

// installLocked derives versions and the primitive from h and, if save,
// persists it first.
func (k *Keyset) installLocked(h *keyset.Handle, save bool) error {
	ids := make([]uint32, 0, h.Len())
	var min uint32
	for i := 0; i < h.Len(); i++ {
		e, err := h.Entry(i)
		if err != nil {
			return fmt.Errorf("phisilo: keyset entry: %w", err)
		}
		ids = append(ids, e.KeyID())
		if e.KeyStatus() != keyset.Enabled && min == uint32(i) {
			min = uint32(i + 1)
		}
	}
	prim, err := aead.New(h)
	if err != nil {
		return fmt.Errorf("phisilo: keyset primitive: %w", err)
	}
	if save && k.path != "" {
		if err := writeKeysetFile(k.path, h, k.master); err != nil {
			return err
		}
	}
	k.handle, k.prim, k.ids, k.min = h, prim, ids, min+1
	return nil
}

func writeKeysetFile(path string, h *keyset.Handle, master tink.AEAD) error {
	var buf bytes.Buffer
	var err error
	if master != nil {
		err = h.WriteWithAssociatedData(keyset.NewJSONWriter(&buf), master, keysetAD)
	} else {
		err = insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf))
	}
	if err != nil {
		return fmt.Errorf("phisilo: encode keyset: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".keyset-*")
	if err != nil {
		return fmt.Errorf("phisilo: write keyset: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("phisilo: write keyset: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("phisilo: write keyset: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("phisilo: write keyset: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("phisilo: write keyset: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("phisilo: write keyset: %w", err)
	}
	return nil
}

// Rotate adds a new key, makes it primary and returns its version. Records
// wrapped under older versions still decrypt.
func (k *Keyset) Rotate() (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := keyset.NewManagerFromHandle(k.handle)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return 0, fmt.Errorf("phisilo: rotate: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return 0, fmt.Errorf("phisilo: rotate: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return 0, fmt.Errorf("phisilo: rotate: %w", err)
	}
	if err := k.installLocked(h, true); err != nil {
		return 0, err
	}
	return uint32(len(k.ids)), nil
}

// SetMinVersion disables every version below v: data keys still wrapped
// under them no longer unwrap ([ErrKeyRetired]). v must not exceed the
// primary version. Lowering the minimum re-enables versions.
func (k *Keyset) SetMinVersion(v uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if v < 1 || v > k.primaryLocked() {
		return &FieldError{Field: "min_version", Reason: "must be between 1 and the primary version"}
	}
	m := keyset.NewManagerFromHandle(k.handle)
	for i, id := range k.ids {
		var err error
		if uint32(i+1) < v {
			err = m.Disable(id)
		} else {
			err = m.Enable(id)
		}
		if err != nil {
			return fmt.Errorf("phisilo: set min version: %w", err)
		}
	}
	h, err := m.Handle()
	if err != nil {
		return fmt.Errorf("phisilo: set min version: %w", err)
	}
	return k.installLocked(h, true)
}

// MinVersion is the lowest version that still decrypts.
func (k *Keyset) MinVersion() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.min
}

// PrimaryVersion implements [KeyManager].
func (k *Keyset) PrimaryVersion() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primaryLocked()
}

func (k *Keyset) primaryLocked() uint32 {
	p, err := k.handle.Primary()
	if err != nil {
		return 0
	}
	for i, id := range k.ids {
		if id == p.KeyID() {
			return uint32(i + 1)
		}
	}
	return 0
}

// Wrap implements [KeyManager].
func (k *Keyset) Wrap(ctx context.Context, dataKey, ad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	prim, v := k.prim, k.primaryLocked()
	k.mu.RUnlock()
	ct, err := prim.Encrypt(dataKey, ad)
	if err != nil {
		return nil, fmt.Errorf("phisilo: wrap data key: %w", err)
	}
	return frameWrapped(v, ct), nil
}

// Unwrap implements [KeyManager].
func (k *Keyset) Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := WrappedKeyVersion(wrapped)
	if err != nil {
		return nil, err
	}
	k.mu.RLock()
	prim, min := k.prim, k.min
	k.mu.RUnlock()
	if v < min {
		return nil, fmt.Errorf("phisilo: unwrap data key version %d: %w", v, ErrKeyRetired)
	}
	pt, err := prim.Decrypt(wrapped[5:], ad)
	if err != nil {
		return nil, fmt.Errorf("phisilo: unwrap data key: %w", ErrDecrypt)
	}
	return pt, nil
}

// LogValue implements [slog.LogValuer]: it shows versions, never keys.
func (k *Keyset) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("primary", uint64(k.PrimaryVersion())), slog.Uint64("min", uint64(k.MinVersion())))
}
