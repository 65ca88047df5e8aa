package telemetry

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// SignerConfig configures [NewSigner]. Key, Device, Patient and Sequence
// are required; the zero value of Rand is ready to use.
type SignerConfig struct {
	// Key signs envelopes: an *ecdsa.PrivateKey on P-256 (ES256), an
	// ed25519.PrivateKey (EdDSA), or any crypto.Signer with such a public
	// key, such as a secure element or TPM handle.
	Key crypto.Signer
	// Device is the device UUID; it becomes the JWS "kid" and "dev".
	Device iomt.DeviceID
	// Patient is the pseudonymous patient UUID issued by the PHI silo.
	Patient iomt.PatientID
	// Sequence hands out sequence numbers; use a [FileSequence] on devices.
	Sequence SequenceStore
	// Rand is passed to Key.Sign (ECDSA nonces). Nil means crypto/rand.
	Rand io.Reader
}

// Signer turns readings into signed envelopes for one device and patient.
// It is safe for concurrent use; the sequence store serialises numbering.
// When the device is paired with another patient, make a new Signer with
// the same SequenceStore: sequence numbers belong to the device, not to
// the pairing. Create it with [NewSigner]; the zero value is not usable.
type Signer struct {
	key  crypto.Signer
	alg  Algorithm
	dev  iomt.DeviceID
	pat  iomt.PatientID
	seq  SequenceStore
	rand io.Reader
}

// Envelope is one signed reading.
type Envelope struct {
	// Compact is the JWS compact serialization: header.payload.signature.
	Compact []byte
	// Payload is what Compact carries.
	Payload Payload
}

// LogValue implements slog.LogValuer: the payload's identifiers, never the
// measured values or the signature.
func (e *Envelope) LogValue() slog.Value { return e.Payload.LogValue() }

// Topic returns the MQTT topic the envelope is published on.
func (e *Envelope) Topic() string { return Topic(e.Payload.Device, e.Payload.Kind) }

// NewSigner validates cfg and returns a Signer. cfg is copied; changing it
// afterwards has no effect.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	alg, err := signerAlgorithm(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.Device.IsZero() || cfg.Patient.IsZero() {
		return nil, fmt.Errorf("telemetry: SignerConfig: %w", iomt.ErrInvalidID)
	}
	if cfg.Sequence == nil {
		return nil, errors.New("telemetry: SignerConfig.Sequence is required")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Signer{key: cfg.Key, alg: alg, dev: cfg.Device, pat: cfg.Patient, seq: cfg.Sequence, rand: cfg.Rand}, nil
}

// Algorithm returns the JWS algorithm the signer uses.
func (s *Signer) Algorithm() Algorithm { return s.alg }

// Device returns the device UUID the signer signs for.
func (s *Signer) Device() iomt.DeviceID { return s.dev }

// Sign validates r, runs the PHI guard on its JSON form, takes the next
// sequence number and returns the signed envelope. A reading that fails
// Validate fails with [ErrInvalidReading] (wrapping the
// [*iomt.ValidationError]); one whose JSON form holds strings or unknown
// members fails with [ErrPHI] or [ErrUnknownField]. No sequence number is
// consumed by a refused reading.
func (s *Signer) Sign(ctx context.Context, r iomt.Reading) (*Envelope, error) {
	if isNil(r) {
		return nil, fmt.Errorf("%w: nil reading", ErrInvalidReading)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidReading, err)
	}
	data, err := marshalData(r.Kind(), r)
	if err != nil {
		return nil, err
	}
	seq, err := s.seq.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: sequence: %w", err)
	}
	p := Payload{
		Version: PayloadVersion,
		Device:  s.dev,
		Patient: s.pat,
		Seq:     seq,
		Time:    r.Time().UTC(),
		Kind:    r.Kind(),
		Reading: withTime(r, r.Time().UTC()),
	}
	compact, err := signCompact(s.key, s.alg, s.dev, appendPayload(make([]byte, 0, 160+len(data)), &p, data), s.rand)
	if err != nil {
		return nil, err
	}
	return &Envelope{Compact: compact, Payload: p}, nil
}

// SignPayload signs p as is, with no sequence store: the caller vouches
// that p.Seq was never used before for p.Device. It serves tools such as
// "iomt telemetry sign" and gateways that keep their own numbering. p must
// be complete, its reading must validate and pass the PHI guard, and the
// public key of key must match p.Device's registered key for verifiers to
// accept the result.
func SignPayload(key crypto.Signer, p *Payload, rnd io.Reader) ([]byte, error) {
	alg, err := signerAlgorithm(key)
	if err != nil {
		return nil, err
	}
	if p == nil || isNil(p.Reading) {
		return nil, fmt.Errorf("%w: nil payload or reading", ErrInvalidReading)
	}
	q := *p
	q.Version = PayloadVersion
	q.Time = q.Time.UTC()
	if err := withTime(q.Reading, q.Time).Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidReading, err)
	}
	b, err := q.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return signCompact(key, alg, q.Device, b, rnd)
}

// isNil reports whether r is nil or a nil pointer, on which Validate would
// panic.
func isNil(r iomt.Reading) bool {
	if r == nil {
		return true
	}
	v := reflect.ValueOf(r)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// withTime returns r (as a value) with its measurement time set to t.
func withTime(r iomt.Reading, t time.Time) iomt.Reading {
	switch v := r.(type) {
	case iomt.BloodPressure:
		v.MeasuredAt = t
		return v
	case *iomt.BloodPressure:
		c := *v
		c.MeasuredAt = t
		return c
	case iomt.HeartRate:
		v.MeasuredAt = t
		return v
	case *iomt.HeartRate:
		c := *v
		c.MeasuredAt = t
		return c
	case iomt.Glucose:
		v.MeasuredAt = t
		return v
	case *iomt.Glucose:
		c := *v
		c.MeasuredAt = t
		return c
	}
	return r
}

// LogValue implements slog.LogValuer: the device and algorithm, never key
// material.
func (s *Signer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("dev", s.dev.String()), slog.String("alg", string(s.alg)))
}
