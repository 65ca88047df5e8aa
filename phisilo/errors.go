package phisilo

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (or a context error), so callers branch with [errors.Is]. Messages name
// fields and rules, never field values: they are safe to log.
var (
	// ErrDenied: the access policy refused the action. An audit event with
	// outcome "denied" was recorded.
	ErrDenied = errors.New("phisilo: access denied")
	// ErrNotFound: no such patient record, grant, account or session.
	ErrNotFound = errors.New("phisilo: not found")
	// ErrExists: the record, account or grant already exists.
	ErrExists = errors.New("phisilo: already exists")
	// ErrInvalid: a request or record failed validation; see [FieldError].
	ErrInvalid = errors.New("phisilo: invalid input")
	// ErrTooLarge: an input exceeded a named limit; see [LimitError].
	ErrTooLarge = errors.New("phisilo: input too large")
	// ErrDecrypt: a ciphertext or wrapped key failed authentication: it was
	// altered, moved to another patient or tenant, or its key is gone.
	ErrDecrypt = errors.New("phisilo: decryption failed")
	// ErrKeyRetired: the wrapped data key is under a key-encryption key
	// version below the configured minimum; rewrap before raising it.
	ErrKeyRetired = errors.New("phisilo: key version retired")
	// ErrAuditTampered: the audit chain or a checkpoint failed verification;
	// see [AuditVerifyError] for the first bad entry.
	ErrAuditTampered = errors.New("phisilo: audit log verification failed")
	// ErrUnauthenticated: a login or session was refused (wrong password,
	// unknown user, expired or revoked session). Deliberately uninformative.
	ErrUnauthenticated = errors.New("phisilo: authentication failed")
	// ErrClosed: the Silo or backend was closed.
	ErrClosed = errors.New("phisilo: closed")
)

// FieldError reports an invalid field by name (never by value).
type FieldError struct {
	Field  string // dotted path, e.g. "address.postal_code"
	Reason string // e.g. "required", "not a date", "control character"
}

// Error implements error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("phisilo: invalid field %s: %s", e.Field, e.Reason)
}

// Unwrap returns [ErrInvalid].
func (e *FieldError) Unwrap() error { return ErrInvalid }

// LimitError reports an input over a named limit.
type LimitError struct {
	Limit string // the name of the limit, e.g. "MaxRecordBytes"
	Max   int
}

// Error implements error.
func (e *LimitError) Error() string {
	return fmt.Sprintf("phisilo: input exceeds %s (%d)", e.Limit, e.Max)
}

// Unwrap returns [ErrTooLarge].
func (e *LimitError) Unwrap() error { return ErrTooLarge }

// DeniedError says why the policy refused an action. Reason is a fixed rule
// name such as "no-grant" or "role", never PHI.
type DeniedError struct {
	Action Action
	Role   Role
	Reason string
}

// Error implements error.
func (e *DeniedError) Error() string {
	return fmt.Sprintf("phisilo: access denied: %s by %s: %s", e.Action, e.Role, e.Reason)
}

// Unwrap returns [ErrDenied].
func (e *DeniedError) Unwrap() error { return ErrDenied }

// AuditVerifyError names the first audit entry that failed verification.
type AuditVerifyError struct {
	Seq    uint64 // sequence number of the first bad entry (or checkpoint position)
	Reason string // "sequence", "prev-hash", "hash", "checkpoint-signature", "checkpoint-hash", "truncated"
}

// Error implements error.
func (e *AuditVerifyError) Error() string {
	return fmt.Sprintf("phisilo: audit log verification failed at entry %d: %s", e.Seq, e.Reason)
}

// Unwrap returns [ErrAuditTampered].
func (e *AuditVerifyError) Unwrap() error { return ErrAuditTampered }
