package telemetry

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/openiomt/sdk/iomt"
)

// KeyStatus says whether a device key may be used. The zero value,
// [KeyStatusUnknown], is never accepted.
type KeyStatus uint8

// Key statuses.
const (
	// KeyStatusUnknown is the zero value: a resolver that forgot to set a
	// status gets its devices rejected (ErrRevokedDevice), not accepted.
	KeyStatusUnknown KeyStatus = iota
	// KeyActive keys verify envelopes.
	KeyActive
	// KeyRevoked keys verify nothing: the device was decommissioned, lost,
	// or its key is believed compromised.
	KeyRevoked
)

// String returns "active", "revoked" or "unknown".
func (s KeyStatus) String() string {
	switch s {
	case KeyActive:
		return "active"
	case KeyRevoked:
		return "revoked"
	}
	return "unknown"
}

// DeviceKey is a device's public signing key and its status.
type DeviceKey struct {
	// Key is an *ecdsa.PublicKey on P-256 or an ed25519.PublicKey. Its type
	// fixes the only JWS algorithm accepted for the device.
	Key crypto.PublicKey
	// Status must be KeyActive for envelopes to verify.
	Status KeyStatus
	// Patient, when not zero, is the patient the device is paired with:
	// envelopes naming another "pat" fail with ErrPatientMismatch, so a
	// device cannot file readings under someone else's record. Zero means
	// the registry does not bind devices to patients. A registry that
	// re-pairs a device should keep returning the old patient until the
	// device's buffered readings have drained, or return zero.
	Patient iomt.PatientID
}

// KeyResolver looks up a device's public key. The device registry
// implements it; [MemoryResolver] is an in-memory implementation, and
// [LoadJWKSFile] builds one from a JWK set.
//
// ResolveDeviceKey returns an error wrapping [ErrUnknownDevice] for a
// device it does not know; for a revoked device it returns either a
// DeviceKey with Status KeyRevoked or an error wrapping [ErrRevokedDevice].
// Any other error is treated as a transient failure ([ErrKeyResolution]).
// It must be safe for concurrent use.
type KeyResolver interface {
	ResolveDeviceKey(ctx context.Context, dev iomt.DeviceID) (DeviceKey, error)
}

// MemoryResolver is a KeyResolver over an in-memory map. The zero value is
// an empty resolver ready to use. It is safe for concurrent use.
type MemoryResolver struct {
	mu   sync.RWMutex
	keys map[iomt.DeviceID]DeviceKey
}

var _ KeyResolver = (*MemoryResolver)(nil)

// Add registers pub as the active key of dev, replacing any earlier key. pub
// must be an *ecdsa.PublicKey on P-256 or an ed25519.PublicKey.
func (r *MemoryResolver) Add(dev iomt.DeviceID, pub crypto.PublicKey) error {
	return r.Set(dev, DeviceKey{Key: pub, Status: KeyActive})
}

// Set registers k for dev, replacing any earlier key.
func (r *MemoryResolver) Set(dev iomt.DeviceID, k DeviceKey) error {
	if dev.IsZero() {
		return fmt.Errorf("%w: zero device ID", ErrInvalidKey)
	}
	pub, _, err := normalizePublic(k.Key)
	if err != nil {
		return err
	}
	k.Key = pub
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = make(map[iomt.DeviceID]DeviceKey)
	}
	r.keys[dev] = k
	return nil
}

// Revoke marks dev's key revoked. It reports whether dev was known.
func (r *MemoryResolver) Revoke(dev iomt.DeviceID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[dev]
	if ok {
		k.Status = KeyRevoked
		r.keys[dev] = k
	}
	return ok
}

// Len returns the number of devices registered.
func (r *MemoryResolver) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.keys)
}

// ResolveDeviceKey implements KeyResolver.
func (r *MemoryResolver) ResolveDeviceKey(ctx context.Context, dev iomt.DeviceID) (DeviceKey, error) {
	if err := ctx.Err(); err != nil {
		return DeviceKey{}, err
	}
	r.mu.RLock()
	k, ok := r.keys[dev]
	r.mu.RUnlock()
	if !ok {
		return DeviceKey{}, ErrUnknownDevice
	}
	return k, nil
}

// LogValue implements slog.LogValuer: only the number of keys.
func (r *MemoryResolver) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("devices", r.Len()))
}

// ParseJWKS parses a JWK set ({"keys":[...]}) of device public keys, each
// with "kid" set to its device UUID, into a MemoryResolver with every key
// active. Duplicate kids, private key material, unsupported key types and
// more than [MaxJWKSKeys] keys fail. A JWK set has no notion of
// revocation: to revoke a device, remove its key from the set.
func ParseJWKS(b []byte) (*MemoryResolver, error) {
	if len(b) > MaxJWKSSize {
		return nil, fmt.Errorf("%w: JWK set above %d bytes", ErrOversize, MaxJWKSSize)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: not a JWK set", ErrInvalidKey)
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(doc["keys"], &keys); err != nil || keys == nil {
		return nil, fmt.Errorf("%w: not a JWK set", ErrInvalidKey)
	}
	if len(keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("%w: more than %d keys", ErrOversize, MaxJWKSKeys)
	}
	r := &MemoryResolver{keys: make(map[iomt.DeviceID]DeviceKey, len(keys))}
	for i, raw := range keys {
		if len(raw) > MaxJWKSize {
			return nil, fmt.Errorf("%w: key %d above %d bytes", ErrOversize, i, MaxJWKSize)
		}
		j, err := decodeJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		dev, err := jwkDevice(j)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		pub, _, err := publicFromJWK(j, dev)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if _, dup := r.keys[dev]; dup {
			return nil, fmt.Errorf("%w: key %d: duplicate kid", ErrInvalidKey, i)
		}
		r.keys[dev] = DeviceKey{Key: pub, Status: KeyActive}
	}
	return r, nil
}

// LoadJWKSFile reads a JWK set file with [ParseJWKS]. A file holding a
// single public JWK is accepted too, as a set of one.
func LoadJWKSFile(path string) (*MemoryResolver, error) {
	b, err := readLimited(path, MaxJWKSSize)
	if err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) == nil && probe["keys"] == nil {
		pub, dev, err := ParsePublicJWK(b)
		if err != nil {
			return nil, err
		}
		r := &MemoryResolver{}
		return r, r.Add(dev, pub)
	}
	return ParseJWKS(b)
}

// MarshalJWKS returns a JWK set holding the public key of every active
// device in r, for publishing to verifiers.
func (r *MemoryResolver) MarshalJWKS() ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	devs := make([]iomt.DeviceID, 0, len(r.keys))
	for dev, k := range r.keys {
		if k.Status == KeyActive {
			devs = append(devs, dev)
		}
	}
	slices.SortFunc(devs, func(a, b iomt.DeviceID) int { return bytes.Compare(a[:], b[:]) })
	keys := make([]json.RawMessage, 0, len(devs))
	for _, dev := range devs {
		b, err := MarshalPublicJWK(r.keys[dev].Key, dev)
		if err != nil {
			return nil, err
		}
		keys = append(keys, b)
	}
	return json.Marshal(struct {
		Keys []json.RawMessage `json:"keys"`
	}{keys})
}
