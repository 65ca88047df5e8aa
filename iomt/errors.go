package iomt

import "errors"

// Sentinel errors for errors.Is. Validation errors arrive wrapped in a
// [*ValidationError] that names the field.
var (
	// ErrInvalidID reports an identifier that is not a canonical lowercase
	// version 4 or 7 UUID, or is the nil UUID.
	ErrInvalidID = errors.New("iomt: invalid identifier")
	// ErrOutOfRange reports a value outside its physiological or encodable range.
	ErrOutOfRange = errors.New("iomt: value out of range")
	// ErrNotFinite reports a NaN or infinite value.
	ErrNotFinite = errors.New("iomt: value is not finite")
	// ErrInconsistent reports values that contradict each other, such as a
	// systolic pressure not above the diastolic one.
	ErrInconsistent = errors.New("iomt: inconsistent values")
	// ErrUnknownUnit reports a unit code this package does not define.
	ErrUnknownUnit = errors.New("iomt: unknown unit")
	// ErrUnknownKind reports a measurement kind this package does not define.
	ErrUnknownKind = errors.New("iomt: unknown measurement kind")
	// ErrMissingTime reports a measurement without a measurement time.
	ErrMissingTime = errors.New("iomt: missing measurement time")
)

// ValidationError reports which field of a measurement failed which rule.
// It never carries the offending value, so it is safe to log.
type ValidationError struct {
	// Kind is the measurement kind being validated.
	Kind Kind
	// Field is the JSON name of the field, e.g. "sys".
	Field string
	// Rule describes the violated rule without values, e.g. "40-300 mmHg".
	Rule string
	// Err is the sentinel: ErrOutOfRange, ErrNotFinite, ErrInconsistent,
	// ErrUnknownUnit or ErrMissingTime.
	Err error
}

// Error implements error.
func (e *ValidationError) Error() string {
	reason := "invalid value"
	if e.Err != nil {
		reason = trimPrefix(e.Err.Error())
	}
	msg := "iomt: " + string(e.Kind) + "." + e.Field + ": " + reason
	if e.Rule != "" {
		msg += " (" + e.Rule + ")"
	}
	return msg
}

// Unwrap returns the sentinel error.
func (e *ValidationError) Unwrap() error { return e.Err }

func trimPrefix(s string) string {
	const p = "iomt: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
