package ble

import (
	"encoding/binary"
	"math"

	"github.com/openiomt/sdk/iomt"
)

// Flags of the Blood Pressure Measurement characteristic.
const (
	bpFlagKPa       = 1 << 0
	bpFlagTimestamp = 1 << 1
	bpFlagPulse     = 1 << 2
	bpFlagUserID    = 1 << 3
	bpFlagStatus    = 1 << 4
	bpFlagsDefined  = 0x1f
)

// UnknownUser is the user ID value meaning "unknown user".
const UnknownUser = 0xFF

// BloodPressureMeasurement is one Blood Pressure Measurement (0x2A35) value.
//
// The embedded [iomt.BloodPressure] receives the pressures in the unit the
// device used, the pulse rate, the measurement status and the timestamp. A
// mean arterial pressure or pulse rate sent as NaN ("not available") decodes
// as 0, which iomt reads as "not measured"; an absent timestamp leaves
// MeasuredAt zero.
type BloodPressureMeasurement struct {
	iomt.BloodPressure
	// UserID is the device's user index, meaningful when HasUserID is set;
	// [UnknownUser] (0xFF) means "unknown user". It is a slot number on the
	// device, not a patient identifier.
	UserID uint8
	// HasUserID reports that the value carries a user ID field.
	HasUserID bool
	// HasStatus reports that the value carries a measurement status field.
	// The encoder also writes the field when Status is not zero.
	HasStatus bool
}

// DecodeBloodPressure decodes a Blood Pressure Measurement (0x2A35) value.
//
// It checks the encoding only; call Validate on the result to check the
// physiological bounds. Errors are [*FieldError] wrapping [ErrTooLong],
// [ErrTruncated], [ErrTrailingData], [ErrReserved] (reserved flag or status
// bits, or the reserved pulse-rate-range value), [ErrOutOfRange] (an
// impossible timestamp) or [ErrSpecialValue] (systolic or diastolic not a
// number; mean arterial pressure or pulse rate other than a number or NaN).
func DecodeBloodPressure(b []byte) (BloodPressureMeasurement, error) {
	var m BloodPressureMeasurement
	c := BloodPressureMeasurementCharacteristic
	if err := checkLen(c, b); err != nil {
		return m, err
	}
	r := reader{c: c, b: b}
	flags, err := r.u8("flags")
	if err != nil {
		return m, err
	}
	if flags&^bpFlagsDefined != 0 {
		return m, &FieldError{c, "flags", 0, ErrReserved}
	}
	if flags&bpFlagKPa != 0 {
		m.Unit = iomt.KPa
	}
	if m.Systolic, err = r.sfloat("systolic", false); err != nil {
		return m, err
	}
	if m.Diastolic, err = r.sfloat("diastolic", false); err != nil {
		return m, err
	}
	if m.MeanArterial, err = r.sfloat("mean_arterial", true); err != nil {
		return m, err
	}
	if flags&bpFlagTimestamp != 0 {
		if err := r.need("timestamp", DateTimeLen); err != nil {
			return m, err
		}
		if m.MeasuredAt, err = decodeDateTime(c, "timestamp.", b, r.off); err != nil {
			return m, err
		}
		r.off += DateTimeLen
	}
	if flags&bpFlagPulse != 0 {
		if m.Pulse, err = r.sfloat("pulse_rate", true); err != nil {
			return m, err
		}
	}
	if flags&bpFlagUserID != 0 {
		if m.UserID, err = r.u8("user_id"); err != nil {
			return m, err
		}
		m.HasUserID = true
	}
	if flags&bpFlagStatus != 0 {
		at := r.off
		s, err := r.u16("measurement_status")
		if err != nil {
			return m, err
		}
		m.Status = iomt.MeasurementStatus(s)
		if !m.Status.Valid() {
			return m, &FieldError{c, "measurement_status", at, ErrReserved}
		}
		m.HasStatus = true
	}
	return m, r.end()
}

// sfloat reads an SFLOAT. NaN decodes as 0 when optional is set; every other
// special value, and NaN otherwise, fails with ErrSpecialValue.
func (r *reader) sfloat(field string, optional bool) (float64, error) {
	return r.sfloatScaled(field, optional, 0)
}

func (r *reader) sfloatScaled(field string, optional bool, shift int) (float64, error) {
	at := r.off
	raw, err := r.u16(field)
	if err != nil {
		return 0, err
	}
	// Inline SFLOAT split: sign-extend the 12-bit mantissa and 4-bit exponent.
	m := int64(int16(raw<<4) >> 4)
	e := int(int16(raw) >> 12)
	if e != 0 || (m < 0x7FE && m > -0x7FE) {
		return scale(m, e+shift), nil
	}
	if raw == uint16(SFloatNaN) && optional {
		return 0, nil
	}
	return 0, &FieldError{r.c, field, at, ErrSpecialValue}
}

// AppendBloodPressure appends the Blood Pressure Measurement (0x2A35)
// encoding of m to dst. The flags follow m: the kPa unit bit from Unit, the
// timestamp when MeasuredAt is set, the pulse rate when Pulse is not 0, the
// user ID when HasUserID is set, the status when HasStatus is set or Status
// is not 0. A zero MeanArterial is sent as NaN (not available). Values are
// encoded with [NewSFloat].
//
// Errors are [*FieldError] with Offset -1 wrapping [ErrOutOfRange] (unknown
// unit, value too large for an SFLOAT, timestamp year outside 1582–9999),
// [ErrSpecialValue] (NaN or infinite value) or [ErrReserved] (undefined
// status bits). On error dst is returned unchanged.
func AppendBloodPressure(dst []byte, m BloodPressureMeasurement) ([]byte, error) {
	c := BloodPressureMeasurementCharacteristic
	orig := dst
	fail := func(field string, err error) ([]byte, error) {
		return orig, &FieldError{c, field, -1, err}
	}
	var flags byte
	switch m.Unit {
	case iomt.MmHg:
	case iomt.KPa:
		flags |= bpFlagKPa
	default:
		return fail("unit", ErrOutOfRange)
	}
	if !m.MeasuredAt.IsZero() {
		flags |= bpFlagTimestamp
	}
	if m.Pulse != 0 {
		flags |= bpFlagPulse
	}
	if m.HasUserID {
		flags |= bpFlagUserID
	}
	if m.HasStatus || m.Status != 0 {
		if !m.Status.Valid() {
			return fail("measurement_status", ErrReserved)
		}
		flags |= bpFlagStatus
	}
	dst = append(dst, flags)
	var err error
	if dst, err = appendSFloat(dst, m.Systolic, 0, false); err != nil {
		return fail("systolic", err)
	}
	if dst, err = appendSFloat(dst, m.Diastolic, 0, false); err != nil {
		return fail("diastolic", err)
	}
	if dst, err = appendSFloat(dst, m.MeanArterial, 0, true); err != nil {
		return fail("mean_arterial", err)
	}
	if flags&bpFlagTimestamp != 0 {
		if dst, err = appendDateTime(dst, c, "timestamp.", m.MeasuredAt); err != nil {
			return orig, err
		}
	}
	if flags&bpFlagPulse != 0 {
		if dst, err = appendSFloat(dst, m.Pulse, 0, false); err != nil {
			return fail("pulse_rate", err)
		}
	}
	if flags&bpFlagUserID != 0 {
		dst = append(dst, m.UserID)
	}
	if flags&bpFlagStatus != 0 {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(m.Status))
	}
	return dst, nil
}

// appendSFloat appends v / 10^shift as an SFLOAT. When zeroIsNaN is set, 0
// means "not available" and is sent as NaN. NaN and infinities fail with
// ErrSpecialValue.
func appendSFloat(dst []byte, v float64, shift int, zeroIsNaN bool) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dst, ErrSpecialValue
	}
	raw := uint32(SFloatNaN)
	if v != 0 || !zeroIsNaN {
		var err error
		if raw, err = sfloatFormat.encode(v, shift); err != nil {
			return dst, err
		}
	}
	return binary.LittleEndian.AppendUint16(dst, uint16(raw)), nil
}
