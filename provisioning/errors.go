package provisioning

import (
	"errors"
	"strings"
)

// Sentinel errors for errors.Is. Most arrive wrapped in an [*Error] that
// names the operation and the field; none carries the offending value.
var (
	// ErrMalformed reports input that does not parse: bad PEM, DER, JSON,
	// JOSE serialization or frame header.
	ErrMalformed = errors.New("provisioning: malformed input")
	// ErrTooLarge reports input above its named limit (MaxCSRSize,
	// MaxTokenSize, MaxPairingSize, a reassembler's MaxMessageSize…).
	ErrTooLarge = errors.New("provisioning: input too large")
	// ErrUnsupportedKey reports a key type or curve this package does not
	// accept (only ECDSA P-256 and Ed25519 device keys; ECDSA P-256 for
	// provisioning and pairing keys).
	ErrUnsupportedKey = errors.New("provisioning: unsupported key")
	// ErrInvalidCSR reports a certificate request with a bad signature or
	// without the device UUID as both CN and urn:uuid URI SAN.
	ErrInvalidCSR = errors.New("provisioning: invalid certificate request")
	// ErrDeviceMismatch reports a device identifier that differs from the
	// one it must equal: the CSR's device against the enrolment token's, a
	// token or pairing payload addressed to another device, a client
	// certificate against a re-enrolment CSR.
	ErrDeviceMismatch = errors.New("provisioning: device identifier mismatch")
	// ErrBadSignature reports a token or pairing payload whose signature does
	// not verify under the trusted key, including forgeries and unsigned
	// ("alg":"none") payloads.
	ErrBadSignature = errors.New("provisioning: bad signature")
	// ErrDecrypt reports a pairing payload that does not decrypt with the
	// device's pairing key: tampered ciphertext or another recipient.
	ErrDecrypt = errors.New("provisioning: decryption failed")
	// ErrExpired reports a token, payload or certificate outside its
	// validity period under the injected clock.
	ErrExpired = errors.New("provisioning: expired")
	// ErrReplay reports a single-use enrolment token presented again.
	ErrReplay = errors.New("provisioning: replayed")
	// ErrStaleNonce reports a pairing payload that does not carry the
	// device's current one-time nonce, or a pairing session already used.
	ErrStaleNonce = errors.New("provisioning: stale or unknown nonce")
	// ErrWrongAudience reports a token or payload issued for another
	// audience or by an unexpected issuer.
	ErrWrongAudience = errors.New("provisioning: wrong audience or issuer")
	// ErrUnknownDevice reports a device the registry does not know.
	ErrUnknownDevice = errors.New("provisioning: unknown device")
	// ErrRevoked reports a revoked or decommissioned device, or a
	// certificate that is revoked or no longer the device's current one.
	ErrRevoked = errors.New("provisioning: device or certificate revoked")
	// ErrAlreadyExists reports registering a device twice.
	ErrAlreadyExists = errors.New("provisioning: device already registered")
	// ErrInvalidTransition reports a registry status change that is not
	// allowed, such as reactivating a revoked device.
	ErrInvalidTransition = errors.New("provisioning: invalid status transition")
	// ErrNoIdentity reports an identity store that holds no identity yet.
	ErrNoIdentity = errors.New("provisioning: no identity stored")
	// ErrInvalidConfig reports a configuration that cannot work.
	ErrInvalidConfig = errors.New("provisioning: invalid configuration")
	// ErrUnknownPeer reports a client certificate that names neither a
	// device nor a service, a service not admitted, or one of either kind
	// issued by a CA not trusted for that kind.
	ErrUnknownPeer = errors.New("provisioning: certificate names no admitted device or service")
	// ErrFrameGap reports a BLE frame whose sequence number skips ahead.
	ErrFrameGap = errors.New("provisioning: frame sequence gap")
	// ErrFrameDuplicate reports a BLE frame whose sequence number was
	// already received.
	ErrFrameDuplicate = errors.New("provisioning: duplicate frame")
	// ErrFrameIntegrity reports a reassembled message whose CRC-32C does not
	// match the one announced in its first frame.
	ErrFrameIntegrity = errors.New("provisioning: frame integrity check failed")
)

// Error reports which operation failed on which field, wrapping one of the
// sentinel errors. It never carries the offending value, so it is safe to
// log.
type Error struct {
	// Op names the operation, e.g. "enrolment token" or "pairing payload".
	Op string
	// Field names the field or part that failed, e.g. "exp"; may be empty.
	Field string
	// Err is the sentinel (or a wrapped lower-level error).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("provisioning: ")
	b.WriteString(e.Op)
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "provisioning: "))
	}
	return b.String()
}

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

func newErr(op, field string, err error) error { return &Error{Op: op, Field: field, Err: err} }
