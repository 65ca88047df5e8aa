package ota

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per verification rule. Use [errors.Is]; the concrete
// error usually carries more detail (see [SignatureError], [LimitError],
// [ImageError]). Messages name fields, never values read from the input.
var (
	// ErrMalformed: a document is not valid JSON, not a JWS JSON general
	// serialization, has unknown or duplicate fields, or fails a field rule.
	ErrMalformed = errors.New("ota: malformed document")
	// ErrTooLarge: an input exceeds one of the named limits ([LimitError]).
	ErrTooLarge = errors.New("ota: input exceeds limit")
	// ErrSignatureThreshold: fewer distinct trusted keys than the role's
	// threshold produced valid signatures (unsigned, wrongly signed,
	// below-threshold, or signed by a revoked key). See [SignatureError].
	ErrSignatureThreshold = errors.New("ota: signatures do not meet threshold")
	// ErrRootVersion: a new root's version is not exactly the trusted root's
	// version plus one.
	ErrRootVersion = errors.New("ota: root version is not the next version")
	// ErrTooManyRotations: more root rotations in one update than
	// [Config.MaxRootRotations].
	ErrTooManyRotations = errors.New("ota: too many root rotations in one update")
	// ErrExpired: the trusted root or the manifest has expired.
	ErrExpired = errors.New("ota: document expired")
	// ErrManifestRollback: manifest_version is below the last one accepted.
	ErrManifestRollback = errors.New("ota: manifest version rollback")
	// ErrHardwareIncompatible: the device's hardware ID is not listed in the
	// manifest (SUIT: IMG.INCOMPATIBLE).
	ErrHardwareIncompatible = errors.New("ota: hardware not listed in manifest")
	// ErrSecurityRollback: security_version is below the device's
	// anti-rollback counter.
	ErrSecurityRollback = errors.New("ota: security version below anti-rollback counter")
	// ErrImageTooLong: the image has more bytes than the manifest's length
	// (endless data or appended bytes; SUIT: IMG.EXTRA).
	ErrImageTooLong = errors.New("ota: image longer than manifest length")
	// ErrImageTruncated: the image ended before the manifest's length.
	ErrImageTruncated = errors.New("ota: image shorter than manifest length")
	// ErrImageDigest: the image's SHA-256 differs from the manifest's.
	ErrImageDigest = errors.New("ota: image digest mismatch")
	// ErrVerifierState: a [Verifier] method was called out of order or after
	// a failed check (a Verifier is single-use and fails closed).
	ErrVerifierState = errors.New("ota: verifier used out of order")
	// ErrCounterDecrease: a [CounterStore] was asked to move its counter
	// backwards.
	ErrCounterDecrease = errors.New("ota: anti-rollback counter cannot decrease")
	// ErrKey: a key file is not a supported JWK (ES256 on P-256 or EdDSA on
	// Ed25519), or a private key was expected and a public one given.
	ErrKey = errors.New("ota: unsupported or invalid key")
)

// LimitError reports which named limit an input exceeded. It wraps
// [ErrTooLarge].
type LimitError struct {
	Name  string // the limit's name, e.g. "MaxManifestBytes"
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ota: input exceeds %s (%d)", e.Name, e.Limit)
}

// Unwrap returns [ErrTooLarge].
func (e *LimitError) Unwrap() error { return ErrTooLarge }

// SignatureError reports a threshold failure for one role. It wraps
// [ErrSignatureThreshold].
type SignatureError struct {
	Role      string // "root" or "targets"
	Version   uint64 // version of the root whose role was checked
	Valid     int    // distinct trusted keys with a valid signature
	Threshold int
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("ota: %d valid signature(s) of role %s (root version %d), threshold %d",
		e.Valid, e.Role, e.Version, e.Threshold)
}

// Unwrap returns [ErrSignatureThreshold].
func (e *SignatureError) Unwrap() error { return ErrSignatureThreshold }

// FieldError reports a field that failed validation. It wraps [ErrMalformed]
// (or Err, when set) and names the field, never its value.
type FieldError struct {
	Doc   string // "root", "manifest", "jws", "key", "state"
	Field string
	Err   error // nil means ErrMalformed
}

func (e *FieldError) Error() string {
	cause := e.Unwrap()
	return fmt.Sprintf("ota: %s field %s: %s", e.Doc, e.Field, trimPrefix(cause.Error()))
}

// Unwrap returns the underlying sentinel.
func (e *FieldError) Unwrap() error {
	if e.Err == nil {
		return ErrMalformed
	}
	return e.Err
}

// ImageError reports an image check failure with the byte count read. It
// wraps [ErrImageTooLong], [ErrImageTruncated] or [ErrImageDigest].
type ImageError struct {
	Err    error
	Read   int64 // bytes read (at most Length+1)
	Length int64 // bytes the manifest declares
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("%s (read %d of %d bytes)", e.Err.Error(), e.Read, e.Length)
}

// Unwrap returns the sentinel.
func (e *ImageError) Unwrap() error { return e.Err }

func trimPrefix(s string) string {
	const p = "ota: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func malformed(doc, field string) error { return &FieldError{Doc: doc, Field: field} }
