package ble

import (
	"encoding/binary"
	"math"

	"github.com/openiomt/sdk/iomt"
)

// Flags of the Heart Rate Measurement characteristic.
const (
	hrFlagUint16       = 1 << 0
	hrFlagContactShift = 1
	hrFlagEnergy       = 1 << 3
	hrFlagRR           = 1 << 4
	hrFlagsDefined     = 0x1f
)

// SensorContact is the two-bit Sensor Contact Status field of the Heart Rate
// Measurement characteristic.
type SensorContact uint8

// Sensor contact states. The values 0 and 1 both mean the feature is not
// supported; decoding keeps which one was sent so re-encoding is exact.
const (
	ContactNotSupported  SensorContact = 0
	ContactNotSupported1 SensorContact = 1
	ContactNotDetected   SensorContact = 2
	ContactDetected      SensorContact = 3
)

// Supported reports whether the sensor reports contact at all.
func (s SensorContact) Supported() bool { return s&2 != 0 }

// RRIntervalUnit is the resolution of RR-intervals: 1/1024 second.
const RRIntervalUnit = 1.0 / 1024

// MaxRRIntervals is the most RR-intervals a Heart Rate Measurement can carry
// within [MaxAttributeLen].
const MaxRRIntervals = (MaxAttributeLen - 2) / 2

// HeartRateMeasurement is one Heart Rate Measurement (0x2A37) value. The
// embedded [iomt.HeartRate] receives the rate; the characteristic carries no
// time, so MeasuredAt is left zero for the caller to set on receipt.
type HeartRateMeasurement struct {
	iomt.HeartRate
	// Wide reports the 16-bit value format. The encoder uses it when set and
	// whenever the rate exceeds 255.
	Wide bool
	// Contact is the sensor contact status.
	Contact SensorContact
	// EnergyExpended is the accumulated energy in kilojoules, meaningful when
	// HasEnergyExpended is set; 0xFFFF means "at least 65535".
	EnergyExpended uint16
	// HasEnergyExpended reports that the value carries the energy field.
	HasEnergyExpended bool
	// RRIntervals holds RR-intervals in units of [RRIntervalUnit], oldest
	// first. Nil means the field is absent.
	RRIntervals []uint16
}

// DecodeHeartRate decodes a Heart Rate Measurement (0x2A37) value. The
// returned RRIntervals, if any, is a new slice. Errors are [*FieldError]
// wrapping [ErrTooLong], [ErrTruncated] (also an RR-interval field that is
// empty or has an odd length), [ErrTrailingData] or [ErrReserved].
func DecodeHeartRate(b []byte) (HeartRateMeasurement, error) {
	var m HeartRateMeasurement
	c := HeartRateMeasurementCharacteristic
	if err := checkLen(c, b); err != nil {
		return m, err
	}
	r := reader{c: c, b: b}
	flags, err := r.u8("flags")
	if err != nil {
		return m, err
	}
	if flags&^hrFlagsDefined != 0 {
		return m, &FieldError{c, "flags", 0, ErrReserved}
	}
	m.Contact = SensorContact(flags >> hrFlagContactShift & 3)
	if flags&hrFlagUint16 != 0 {
		m.Wide = true
		v, err := r.u16("heart_rate")
		if err != nil {
			return m, err
		}
		m.BPM = float64(v)
	} else {
		v, err := r.u8("heart_rate")
		if err != nil {
			return m, err
		}
		m.BPM = float64(v)
	}
	if flags&hrFlagEnergy != 0 {
		if m.EnergyExpended, err = r.u16("energy_expended"); err != nil {
			return m, err
		}
		m.HasEnergyExpended = true
	}
	if flags&hrFlagRR != 0 {
		n := len(b) - r.off
		if n == 0 || n%2 != 0 {
			return m, &FieldError{c, "rr_interval", r.off + n - n%2, ErrTruncated}
		}
		m.RRIntervals = make([]uint16, n/2)
		for i := range m.RRIntervals {
			m.RRIntervals[i] = binary.LittleEndian.Uint16(b[r.off:])
			r.off += 2
		}
	}
	return m, r.end()
}

// AppendHeartRate appends the Heart Rate Measurement (0x2A37) encoding of m
// to dst. BPM is rounded to a whole number. Errors are [*FieldError] with
// Offset -1 wrapping [ErrSpecialValue] (BPM not finite), [ErrOutOfRange] (BPM
// outside 0–65535, Contact above 3, more than [MaxRRIntervals] intervals).
// On error dst is returned unchanged.
func AppendHeartRate(dst []byte, m HeartRateMeasurement) ([]byte, error) {
	c := HeartRateMeasurementCharacteristic
	fail := func(field string, err error) ([]byte, error) {
		return dst, &FieldError{c, field, -1, err}
	}
	if math.IsNaN(m.BPM) || math.IsInf(m.BPM, 0) {
		return fail("heart_rate", ErrSpecialValue)
	}
	bpm := math.Round(m.BPM)
	if bpm < 0 || bpm > math.MaxUint16 {
		return fail("heart_rate", ErrOutOfRange)
	}
	if m.Contact > ContactDetected {
		return fail("sensor_contact", ErrOutOfRange)
	}
	if len(m.RRIntervals) > MaxRRIntervals {
		return fail("rr_interval", ErrOutOfRange)
	}
	flags := byte(m.Contact) << hrFlagContactShift
	wide := m.Wide || bpm > math.MaxUint8
	if wide {
		flags |= hrFlagUint16
	}
	if m.HasEnergyExpended {
		flags |= hrFlagEnergy
	}
	if len(m.RRIntervals) > 0 {
		flags |= hrFlagRR
	}
	dst = append(dst, flags)
	if wide {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(bpm))
	} else {
		dst = append(dst, byte(bpm))
	}
	if m.HasEnergyExpended {
		dst = binary.LittleEndian.AppendUint16(dst, m.EnergyExpended)
	}
	for _, rr := range m.RRIntervals {
		dst = binary.LittleEndian.AppendUint16(dst, rr)
	}
	return dst, nil
}
