package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Limits on what a Store accepts. Every cost a device or caller controls is
// bounded by one of these.
const (
	// MaxBatch is the largest number of readings one Insert accepts.
	MaxBatch = 10_000
	// MaxDataBytes bounds a reading's data JSON.
	MaxDataBytes = 4096
	// MaxKindLen bounds a reading's kind.
	MaxKindLen = 64
	// DefaultLimit is the row limit of a query whose Limit is 0.
	DefaultLimit = 1000
	// MaxLimit is the largest row limit a query may ask for.
	MaxLimit = 10_000
	// MaxDevicesPerPatient bounds the rows LatestByPatient returns.
	MaxDevicesPerPatient = 1000
)

// Sentinel errors for errors.Is.
var (
	// ErrInvalidReading reports a reading that cannot be stored; it arrives
	// inside a [*ReadingError] naming the reading and field.
	ErrInvalidReading = errors.New("store: invalid reading")
	// ErrBatchTooLarge reports an Insert of more than MaxBatch readings.
	ErrBatchTooLarge = errors.New("store: batch too large")
	// ErrInvalidQuery reports a query with an empty range, a zero patient
	// or a limit outside 0..MaxLimit.
	ErrInvalidQuery = errors.New("store: invalid query")
	// ErrClosed reports use of a closed Store.
	ErrClosed = errors.New("store: closed")
)

// ReadingError reports which reading of a batch failed which check. It
// names the field, never its value.
type ReadingError struct {
	// Index is the reading's position in the batch.
	Index int
	// Field is "device", "patient", "seq", "time", "kind" or "data".
	Field string
	// Reason says which rule failed, without values.
	Reason string
}

// Error implements error.
func (e *ReadingError) Error() string {
	return fmt.Sprintf("store: reading %d: %s: %s", e.Index, e.Field, e.Reason)
}

// Unwrap returns ErrInvalidReading.
func (e *ReadingError) Unwrap() error { return ErrInvalidReading }

// Reading is one stored reading: identifiers, sequence, time and numbers.
// It holds no Protected Health Information: the patient is a random UUID
// that only the PHI silo can resolve.
type Reading struct {
	// DeviceID and Seq identify the reading; storing the same pair twice
	// keeps the first.
	DeviceID iomt.DeviceID
	Seq      uint64
	// PatientID is the random patient UUID the device was paired with.
	PatientID iomt.PatientID
	// Time is the measurement time. Stores keep microsecond precision, in
	// UTC.
	Time time.Time
	// Kind is the measurement kind, e.g. iomt.KindBloodPressure. Stores
	// accept any kind of 1-64 characters a-z, 0-9 and _, so readings of
	// kinds added later need no migration.
	Kind iomt.Kind
	// Data is the reading's data JSON object: numbers, booleans, nulls,
	// arrays and objects only (no strings).
	Data json.RawMessage
}

// Range selects a patient's readings by measurement time.
type Range struct {
	// From and To bound the measurement time: From ≤ Time < To. Both are
	// required and From must be before To.
	From, To time.Time
	// Kind, when not empty, keeps only readings of that kind.
	Kind iomt.Kind
	// Limit caps the rows returned (DefaultLimit when 0, at most MaxLimit).
	Limit int
}

// InsertResult reports what an Insert did.
type InsertResult struct {
	// Inserted counts readings newly stored.
	Inserted int
	// Duplicates counts readings whose (DeviceID, Seq) was already stored
	// (or appeared earlier in the same batch) and were skipped.
	Duplicates int
}

// Store keeps readings, idempotently keyed by (DeviceID, Seq).
// Implementations are safe for concurrent use by many goroutines and many
// processes sharing one database.
type Store interface {
	// Insert stores a batch atomically: when it returns nil, every reading
	// is durably committed (or was already present); otherwise none of the
	// batch is. Readings already stored are skipped, not updated. Invalid
	// readings fail the whole batch with a *ReadingError before anything
	// is written; more than MaxBatch readings fail with ErrBatchTooLarge.
	Insert(ctx context.Context, readings []Reading) (InsertResult, error)
	// ByPatient returns a patient's readings with From ≤ Time < To,
	// ordered by Time, then DeviceID, then Seq.
	ByPatient(ctx context.Context, patient iomt.PatientID, r Range) ([]Reading, error)
	// LatestByPatient returns, for each device with readings for the
	// patient, its latest reading (greatest Time, then greatest Seq),
	// ordered by DeviceID; at most MaxDevicesPerPatient rows.
	LatestByPatient(ctx context.Context, patient iomt.PatientID) ([]Reading, error)
	// Close releases the store's resources.
	io.Closer
}

// normalize validates readings and returns copies with Time truncated to
// microseconds in UTC and Data compacted.
func normalize(in []Reading) ([]Reading, error) {
	if len(in) > MaxBatch {
		return nil, ErrBatchTooLarge
	}
	out := make([]Reading, len(in))
	for i, r := range in {
		bad := func(field, reason string) error {
			return &ReadingError{Index: i, Field: field, Reason: reason}
		}
		switch {
		case r.DeviceID.IsZero():
			return nil, bad("device", "nil UUID")
		case r.PatientID.IsZero():
			return nil, bad("patient", "nil UUID")
		case r.Seq > math.MaxInt64:
			return nil, bad("seq", "above 2^63-1")
		case r.Time.IsZero():
			return nil, bad("time", "missing")
		case r.Time.Year() < 1970 || r.Time.Year() > 9999:
			return nil, bad("time", "outside years 1970-9999")
		case !validKind(string(r.Kind)):
			return nil, bad("kind", "must be 1-64 characters of a-z, 0-9 and _")
		case len(r.Data) > MaxDataBytes:
			return nil, bad("data", "too large")
		}
		data, reason := checkData(r.Data)
		if reason != "" {
			return nil, bad("data", reason)
		}
		r.Time = r.Time.UTC().Truncate(time.Microsecond)
		r.Data = data
		out[i] = r
	}
	return out, nil
}

func validKind(k string) bool {
	if k == "" || len(k) > MaxKindLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// checkData requires a JSON object holding no string values (the PHI
// guard's rule for data, enforced again at the storage boundary), nested at
// most 8 deep, and returns it compacted.
func checkData(b json.RawMessage) (json.RawMessage, string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "malformed JSON"
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "trailing data after JSON object"
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, "must be a JSON object"
	}
	if reason := walkData(v, 0); reason != "" {
		return nil, reason
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, "malformed JSON"
	}
	return buf.Bytes(), ""
}

func walkData(v any, depth int) string {
	if depth > 8 {
		return "nested too deeply"
	}
	switch x := v.(type) {
	case string:
		return "string values not allowed"
	case json.Number:
		if f, err := x.Float64(); err != nil || math.IsInf(f, 0) {
			return "number out of range"
		}
	case map[string]any:
		for _, e := range x {
			if r := walkData(e, depth+1); r != "" {
				return r
			}
		}
	case []any:
		for _, e := range x {
			if r := walkData(e, depth+1); r != "" {
				return r
			}
		}
	}
	return ""
}

func checkRange(patient iomt.PatientID, r Range) (Range, error) {
	if patient.IsZero() {
		return r, fmt.Errorf("%w: nil patient", ErrInvalidQuery)
	}
	if r.From.IsZero() || r.To.IsZero() || !r.From.Before(r.To) {
		return r, fmt.Errorf("%w: From must be before To", ErrInvalidQuery)
	}
	if r.Limit < 0 || r.Limit > MaxLimit {
		return r, fmt.Errorf("%w: limit outside 0-%d", ErrInvalidQuery, MaxLimit)
	}
	if r.Kind != "" && !validKind(string(r.Kind)) {
		return r, fmt.Errorf("%w: kind", ErrInvalidQuery)
	}
	if r.Limit == 0 {
		r.Limit = DefaultLimit
	}
	return r, nil
}
