package telemetry

import (
	"errors"
	"strings"
)

// Sentinel errors for errors.Is. The [Verifier] returns each rejection as a
// [*VerifyError] wrapping exactly one of the rejection sentinels; key, topic
// and sequence helpers return them wrapped with context. Messages name
// fields and rules, never values, so every error is safe to log.
var (
	// ErrOversize reports an envelope, key file or key set above its size limit.
	ErrOversize = errors.New("telemetry: input too large")
	// ErrMalformed reports input that is not a well-formed compact JWS, not
	// strict base64url, not valid JSON of the expected shape, or a field
	// with an invalid value (a bad UUID, timestamp, kind or typ).
	ErrMalformed = errors.New("telemetry: malformed envelope")
	// ErrUnknownField reports a JOSE header parameter or payload member that
	// the closed schema does not define.
	ErrUnknownField = errors.New("telemetry: unknown field")
	// ErrUnsupportedVersion reports a payload "v" other than 1.
	ErrUnsupportedVersion = errors.New("telemetry: unsupported payload version")
	// ErrAlgorithm reports a JWS algorithm other than ES256 and EdDSA
	// (including "none" and every HMAC algorithm), or an algorithm that does
	// not match the type of the device's key (algorithm confusion).
	ErrAlgorithm = errors.New("telemetry: algorithm not allowed")
	// ErrBadSignature reports a signature that does not verify under the
	// device's key.
	ErrBadSignature = errors.New("telemetry: bad signature")
	// ErrUnknownDevice reports a device the key resolver does not know.
	// KeyResolver implementations return it (possibly wrapped).
	ErrUnknownDevice = errors.New("telemetry: unknown device")
	// ErrRevokedDevice reports a device whose key is revoked or otherwise
	// not active. KeyResolver implementations return it (possibly wrapped).
	ErrRevokedDevice = errors.New("telemetry: revoked device")
	// ErrKeyResolution reports that the key resolver failed for a reason
	// other than an unknown or revoked device (a database outage, say). It
	// is not a verdict on the envelope: callers should retry, not discard.
	ErrKeyResolution = errors.New("telemetry: key resolution failed")
	// ErrKidMismatch reports a JWS "kid" that differs from the payload's
	// "dev": an attempt to speak for one device with another's key.
	ErrKidMismatch = errors.New("telemetry: kid does not match device")
	// ErrPatientMismatch reports a payload "pat" other than the patient the
	// key resolver says the device is paired with.
	ErrPatientMismatch = errors.New("telemetry: patient does not match device pairing")
	// ErrTopicMismatch reports an envelope received on an MQTT topic whose
	// device or kind differs from the payload's.
	ErrTopicMismatch = errors.New("telemetry: topic does not match envelope")
	// ErrReplay reports a sequence number already accepted for the device.
	ErrReplay = errors.New("telemetry: replayed sequence number")
	// ErrSeqTooOld reports a sequence number so far behind the highest one
	// accepted for the device that the replay window no longer covers it.
	ErrSeqTooOld = errors.New("telemetry: sequence number behind replay window")
	// ErrTimeSkew reports a measurement time further in the future than the
	// allowed clock skew, or older than the maximum age.
	ErrTimeSkew = errors.New("telemetry: time outside allowed skew")
	// ErrPHI reports data shaped like Protected Health Information: any
	// string inside "data", or an email address, phone number, social
	// security number, date or personal name anywhere a string may appear.
	ErrPHI = errors.New("telemetry: PHI-like data")
	// ErrInvalidReading reports a reading that fails its physiological
	// validation; the [*iomt.ValidationError] is wrapped too.
	ErrInvalidReading = errors.New("telemetry: invalid reading")

	// ErrInvalidTopic reports an MQTT topic or subscription group that is
	// not of the documented form.
	ErrInvalidTopic = errors.New("telemetry: invalid topic")
	// ErrInvalidKey reports a key of an unsupported type or curve, a JWK
	// without the expected members, a "kid" that is not a device UUID, or
	// private key material where only a public key belongs.
	ErrInvalidKey = errors.New("telemetry: invalid key")
	// ErrSequenceExhausted reports that a sequence store has no numbers left.
	ErrSequenceExhausted = errors.New("telemetry: sequence numbers exhausted")
	// ErrSequenceCorrupt reports a sequence file that cannot be trusted. The
	// store refuses to continue rather than risk reusing a number.
	ErrSequenceCorrupt = errors.New("telemetry: sequence file corrupt")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("telemetry: closed")
)

// VerifyError is the error type of every [Verifier] rejection. Err is one of
// the rejection sentinels; Field names the header parameter or payload
// member concerned when there is one (only names the schema defines, or a
// location such as "data", never attacker-supplied text); Cause holds an
// underlying error such as an [*iomt.ValidationError] or a resolver error.
type VerifyError struct {
	Err    error
	Field  string
	Reason string // fixed text from this package, e.g. "string value"; may be empty
	Cause  error
}

// Error implements error.
func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Field != "" {
		b.WriteString(" (")
		b.WriteString(e.Field)
		b.WriteString(")")
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Cause.Error(), "telemetry: "))
	}
	return b.String()
}

// Unwrap returns the sentinel and, when set, the cause.
func (e *VerifyError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

func reject(sentinel error, field string) error {
	return &VerifyError{Err: sentinel, Field: field}
}

func rejectWhy(sentinel error, field, reason string) error {
	return &VerifyError{Err: sentinel, Field: field, Reason: reason}
}

func rejectCause(sentinel error, field string, cause error) error {
	return &VerifyError{Err: sentinel, Field: field, Cause: cause}
}

// Rule returns a short, stable name for the rejection rule behind err, such
// as "signature" or "replay", for logs, metrics and the CLI's one-line
// reason. It returns "" when err carries none of the package's sentinels.
func Rule(err error) string {
	for _, r := range rules {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return ""
}

var rules = [...]struct {
	err  error
	name string
}{
	{ErrOversize, "size"},
	{ErrPHI, "phi"},
	{ErrAlgorithm, "algorithm"},
	{ErrUnknownField, "unknown-field"},
	{ErrUnsupportedVersion, "version"},
	{ErrMalformed, "malformed"},
	{ErrUnknownDevice, "unknown-device"},
	{ErrRevokedDevice, "revoked-device"},
	{ErrKeyResolution, "key-resolution"},
	{ErrBadSignature, "signature"},
	{ErrKidMismatch, "kid"},
	{ErrPatientMismatch, "patient"},
	{ErrTopicMismatch, "topic"},
	{ErrReplay, "replay"},
	{ErrSeqTooOld, "replay-window"},
	{ErrTimeSkew, "time"},
	{ErrInvalidReading, "reading"},
	{ErrInvalidTopic, "topic"},
	{ErrInvalidKey, "key"},
	{ErrSequenceExhausted, "sequence"},
	{ErrSequenceCorrupt, "sequence"},
	{ErrClosed, "closed"},
}
