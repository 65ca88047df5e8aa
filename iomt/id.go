package iomt

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// uuidBytes is the 16-byte representation shared by DeviceID and PatientID.
type uuidBytes = [16]byte

// DeviceID identifies one device: a random version 4 or 7 UUID assigned at
// manufacture or first boot. The zero value is the nil UUID and is invalid
// everywhere an identifier is required; see [DeviceID.IsZero].
type DeviceID uuidBytes

// PatientID identifies one patient on the public IoT path: a random UUID
// issued by the PHI silo, never derived from patient data. The zero value is
// invalid; see [PatientID.IsZero].
type PatientID uuidBytes

// NewDeviceID returns a random version 4 DeviceID read from r, or from
// crypto/rand when r is nil.
func NewDeviceID(r io.Reader) (DeviceID, error) {
	u, err := newV4(r)
	return DeviceID(u), err
}

// NewDeviceIDV7 returns a version 7 DeviceID (millisecond time prefix, random
// remainder) for registries that benefit from time-ordered keys. now gives the
// time and r the randomness; nil means time.Now and crypto/rand. A time
// before 1970 or after the 48-bit millisecond range (year 10889) fails with
// [ErrOutOfRange].
func NewDeviceIDV7(now func() time.Time, r io.Reader) (DeviceID, error) {
	u, err := newV7(now, r)
	return DeviceID(u), err
}

// NewPatientID returns a random version 4 PatientID read from r, or from
// crypto/rand when r is nil.
func NewPatientID(r io.Reader) (PatientID, error) {
	u, err := newV4(r)
	return PatientID(u), err
}

// ParseDeviceID parses the canonical lowercase form of a version 4 or 7 UUID.
// Any other spelling (uppercase, braces, "urn:uuid:" prefix, no hyphens),
// another version or the nil UUID fails with [ErrInvalidID].
func ParseDeviceID(s string) (DeviceID, error) {
	u, err := parseStrict(s)
	return DeviceID(u), err
}

// ParsePatientID parses a PatientID with the same strict rules as
// [ParseDeviceID].
func ParsePatientID(s string) (PatientID, error) {
	u, err := parseStrict(s)
	return PatientID(u), err
}

// MustParseDeviceID is like ParseDeviceID but panics on error. It is meant for
// constants in tests and examples, never for input.
func MustParseDeviceID(s string) DeviceID {
	id, err := ParseDeviceID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// MustParsePatientID is like ParsePatientID but panics on error. It is meant
// for constants in tests and examples, never for input.
func MustParsePatientID(s string) PatientID {
	id, err := ParsePatientID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// String returns the canonical lowercase form.
func (id DeviceID) String() string { return format(id) }

// IsZero reports whether id is the nil UUID (the zero value).
func (id DeviceID) IsZero() bool { return id == DeviceID{} }

// UUID returns id as a google/uuid value.
func (id DeviceID) UUID() uuid.UUID { return uuid.UUID(id) }

// MarshalText implements encoding.TextMarshaler. The zero value fails with
// [ErrInvalidID] so that a missing identifier never travels as
// "00000000-0000-0000-0000-000000000000".
func (id DeviceID) MarshalText() ([]byte, error) { return marshalText(id) }

// UnmarshalText implements encoding.TextUnmarshaler with the rules of
// [ParseDeviceID].
func (id *DeviceID) UnmarshalText(b []byte) error {
	u, err := parseStrict(string(b))
	if err != nil {
		return err
	}
	*id = DeviceID(u)
	return nil
}

// AppendText implements encoding.TextAppender.
func (id DeviceID) AppendText(b []byte) ([]byte, error) { return appendText(b, id) }

// String returns the canonical lowercase form.
func (id PatientID) String() string { return format(id) }

// IsZero reports whether id is the nil UUID (the zero value).
func (id PatientID) IsZero() bool { return id == PatientID{} }

// UUID returns id as a google/uuid value.
func (id PatientID) UUID() uuid.UUID { return uuid.UUID(id) }

// MarshalText implements encoding.TextMarshaler; the zero value fails with
// [ErrInvalidID].
func (id PatientID) MarshalText() ([]byte, error) { return marshalText(id) }

// UnmarshalText implements encoding.TextUnmarshaler with the rules of
// [ParsePatientID].
func (id *PatientID) UnmarshalText(b []byte) error {
	u, err := parseStrict(string(b))
	if err != nil {
		return err
	}
	*id = PatientID(u)
	return nil
}

// AppendText implements encoding.TextAppender.
func (id PatientID) AppendText(b []byte) ([]byte, error) { return appendText(b, id) }

// LogValue implements slog.LogValuer. A patient UUID is not PHI, but it is the
// key that joins readings to a person in the PHI silo, so structured logs
// record only a short, non-reversible prefix.
func (id PatientID) LogValue() slog.Value {
	s := format(id)
	return slog.StringValue(s[:8] + "…")
}

func newV4(r io.Reader) (uuidBytes, error) {
	if r == nil {
		r = rand.Reader
	}
	var u uuidBytes
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return uuidBytes{}, fmt.Errorf("iomt: reading randomness: %w", err)
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u, nil
}

func newV7(now func() time.Time, r io.Reader) (uuidBytes, error) {
	if now == nil {
		now = time.Now
	}
	t := now()
	if t.Before(time.Unix(0, 0)) || t.UnixMilli() >= 1<<48 {
		return uuidBytes{}, fmt.Errorf("%w: version 7 time before 1970 or after year 10889", ErrOutOfRange)
	}
	u, err := newV4(r)
	if err != nil {
		return u, err
	}
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = (u[6] & 0x0f) | 0x70
	return u, nil
}

func parseStrict(s string) (uuidBytes, error) {
	var u uuidBytes
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, ErrInvalidID
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return uuidBytes{}, ErrInvalidID
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	if v := u[6] >> 4; v != 4 && v != 7 {
		return uuidBytes{}, ErrInvalidID
	}
	if u[8]&0xc0 != 0x80 {
		return uuidBytes{}, ErrInvalidID
	}
	return u, nil
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func format(u uuidBytes) string {
	var b [36]byte
	encode(b[:], u)
	return string(b[:])
}

func encode(dst []byte, u uuidBytes) {
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
}

func marshalText(u uuidBytes) ([]byte, error) {
	if u == (uuidBytes{}) {
		return nil, ErrInvalidID
	}
	b := make([]byte, 36)
	encode(b, u)
	return b, nil
}

func appendText(b []byte, u uuidBytes) ([]byte, error) {
	if u == (uuidBytes{}) {
		return b, ErrInvalidID
	}
	n := len(b)
	b = append(b, make([]byte, 36)...)
	encode(b[n:], u)
	return b, nil
}
