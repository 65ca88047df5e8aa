package ble

import (
	"errors"
	"strconv"
)

// Sentinel errors for errors.Is. Decoders and encoders return them wrapped in
// a [*FieldError].
var (
	// ErrTruncated reports a value that ends before a field its flags announce.
	ErrTruncated = errors.New("ble: truncated value")
	// ErrTrailingData reports bytes after the last field the flags announce.
	ErrTrailingData = errors.New("ble: unexpected trailing bytes")
	// ErrTooLong reports a value longer than [MaxAttributeLen].
	ErrTooLong = errors.New("ble: value exceeds the maximum attribute length")
	// ErrReserved reports reserved flag bits that are set, or a field holding a
	// value the specification reserves for future use.
	ErrReserved = errors.New("ble: reserved bits or value")
	// ErrOutOfRange reports a field outside its defined range, such as month
	// 13, or a value too large to encode.
	ErrOutOfRange = errors.New("ble: field out of range")
	// ErrSpecialValue reports an IEEE 11073 special value (NaN, NRes,
	// ±INFINITY, reserved) where the characteristic needs a number, or a
	// non-finite number given to an encoder for such a field.
	ErrSpecialValue = errors.New("ble: special value where a number is required")
)

// MaxAttributeLen is the longest attribute value the Attribute Protocol
// allows (Bluetooth Core 5.4, Vol 3, Part F, 3.2.9). Decoders reject longer
// input with [ErrTooLong] before reading it.
const MaxAttributeLen = 512

// Characteristic is a 16-bit GATT characteristic UUID assigned by the
// Bluetooth SIG.
type Characteristic uint16

// The characteristics this package encodes and decodes.
const (
	DateTimeCharacteristic                 Characteristic = 0x2A08
	GlucoseMeasurementCharacteristic       Characteristic = 0x2A18
	BloodPressureMeasurementCharacteristic Characteristic = 0x2A35
	HeartRateMeasurementCharacteristic     Characteristic = 0x2A37
)

// String returns the UUID in the form "0x2A35".
func (c Characteristic) String() string {
	const hex = "0123456789ABCDEF"
	return string([]byte{'0', 'x', hex[c>>12&0xf], hex[c>>8&0xf], hex[c>>4&0xf], hex[c&0xf]})
}

// FieldError reports which field of which characteristic failed, and where.
// It never carries the field's value, so it is safe to log.
type FieldError struct {
	// Characteristic is the characteristic being decoded or encoded.
	Characteristic Characteristic
	// Field names the field, e.g. "flags", "systolic", "timestamp.month".
	Field string
	// Offset is the byte offset of the field in the value being decoded, or
	// -1 for encoding errors.
	Offset int
	// Err is one of the package's sentinel errors.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	msg := "ble: " + e.Characteristic.String() + " " + e.Field
	if e.Offset >= 0 {
		msg += " at offset " + strconv.Itoa(e.Offset)
	}
	if e.Err == nil {
		return msg + ": invalid"
	}
	s := e.Err.Error()
	if len(s) > 5 && s[:5] == "ble: " {
		s = s[5:]
	}
	return msg + ": " + s
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }
