package ble

import (
	"encoding/binary"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Flags of the Glucose Measurement characteristic.
const (
	glFlagTimeOffset   = 1 << 0
	glFlagConcentation = 1 << 1
	glFlagMolPerL      = 1 << 2
	glFlagStatus       = 1 << 3
	glFlagContext      = 1 << 4
	glFlagsDefined     = 0x1f
)

// Unit scaling: the characteristic sends kg/L or mol/L; iomt uses mg/dL and
// mmol/L. 1 kg/L = 10⁵ mg/dL and 1 mol/L = 10³ mmol/L, applied to the
// decimal exponent so that no binary rounding creeps in.
const (
	kgPerLToMgPerDL   = 5
	molPerLToMmolPerL = 3
)

// GlucoseType is the fluid type nibble of the Glucose Measurement
// characteristic (1 capillary whole blood … 10 control solution).
type GlucoseType uint8

// Glucose fluid types.
const (
	TypeCapillaryWholeBlood GlucoseType = 1
	TypeCapillaryPlasma     GlucoseType = 2
	TypeVenousWholeBlood    GlucoseType = 3
	TypeVenousPlasma        GlucoseType = 4
	TypeArterialWholeBlood  GlucoseType = 5
	TypeArterialPlasma      GlucoseType = 6
	TypeUndeterminedWhole   GlucoseType = 7
	TypeUndeterminedPlasma  GlucoseType = 8
	TypeInterstitialFluid   GlucoseType = 9
	TypeControlSolution     GlucoseType = 10
)

// SampleLocation is the sample location nibble of the Glucose Measurement
// characteristic.
type SampleLocation uint8

// Sample locations.
const (
	LocationFinger          SampleLocation = 1
	LocationAlternateSite   SampleLocation = 2
	LocationEarlobe         SampleLocation = 3
	LocationControlSolution SampleLocation = 4
	LocationNotAvailable    SampleLocation = 15
)

// SensorStatusDefined masks the defined bits (0–11) of the Sensor Status
// Annunciation field.
const SensorStatusDefined = 0x0fff

// GlucoseMeasurement is one Glucose Measurement (0x2A18) value.
//
// The embedded [iomt.Glucose] receives the concentration converted to mg/dL
// (from kg/L) or mmol/L (from mol/L), and MeasuredAt = base time + time
// offset. Meal stays [iomt.MealUnknown]: meal context travels in the separate
// Glucose Measurement Context characteristic (0x2A34).
type GlucoseMeasurement struct {
	iomt.Glucose
	// Sequence is the record's sequence number on the meter.
	Sequence uint16
	// TimeOffset is the offset in minutes from the base time to MeasuredAt,
	// meaningful when HasTimeOffset is set.
	TimeOffset int16
	// HasTimeOffset reports that the value carries a time offset field.
	HasTimeOffset bool
	// HasConcentration reports that the value carries the concentration,
	// type and sample location fields. Without it Concentration is 0.
	HasConcentration bool
	// Type is the fluid type (1–10).
	Type GlucoseType
	// Location is the sample location (1–4 or 15).
	Location SampleLocation
	// SensorStatus is the Sensor Status Annunciation bit field, meaningful
	// when HasSensorStatus is set.
	SensorStatus uint16
	// HasSensorStatus reports that the value carries the sensor status field.
	HasSensorStatus bool
	// ContextFollows reports that a Glucose Measurement Context value with
	// the same sequence number follows.
	ContextFollows bool
}

// DecodeGlucose decodes a Glucose Measurement (0x2A18) value. Errors are
// [*FieldError] wrapping [ErrTooLong], [ErrTruncated], [ErrTrailingData],
// [ErrReserved] (reserved flag or sensor status bits, reserved type or
// sample location), [ErrOutOfRange] (impossible base time) or
// [ErrSpecialValue] (a concentration that is not a number).
func DecodeGlucose(b []byte) (GlucoseMeasurement, error) {
	var m GlucoseMeasurement
	c := GlucoseMeasurementCharacteristic
	if err := checkLen(c, b); err != nil {
		return m, err
	}
	r := reader{c: c, b: b}
	flags, err := r.u8("flags")
	if err != nil {
		return m, err
	}
	if flags&^glFlagsDefined != 0 {
		return m, &FieldError{c, "flags", 0, ErrReserved}
	}
	if m.Sequence, err = r.u16("sequence_number"); err != nil {
		return m, err
	}
	if err := r.need("base_time", DateTimeLen); err != nil {
		return m, err
	}
	base, err := decodeDateTime(c, "base_time.", b, r.off)
	if err != nil {
		return m, err
	}
	r.off += DateTimeLen
	if flags&glFlagTimeOffset != 0 {
		v, err := r.u16("time_offset")
		if err != nil {
			return m, err
		}
		m.TimeOffset, m.HasTimeOffset = int16(v), true
	}
	if !base.IsZero() {
		m.MeasuredAt = base.Add(time.Duration(m.TimeOffset) * time.Minute)
	}
	if flags&glFlagConcentation != 0 {
		shift := kgPerLToMgPerDL
		if flags&glFlagMolPerL != 0 {
			m.Unit, shift = iomt.MmolPerL, molPerLToMmolPerL
		}
		if m.Concentration, err = r.sfloatScaled("concentration", false, shift); err != nil {
			return m, err
		}
		at := r.off
		tl, err := r.u8("type_sample_location")
		if err != nil {
			return m, err
		}
		m.Type, m.Location = GlucoseType(tl&0xf), SampleLocation(tl>>4)
		if !m.Type.valid() || !m.Location.valid() {
			return m, &FieldError{c, "type_sample_location", at, ErrReserved}
		}
		m.HasConcentration = true
	} else if flags&glFlagMolPerL != 0 {
		m.Unit = iomt.MmolPerL
	}
	if flags&glFlagStatus != 0 {
		at := r.off
		if m.SensorStatus, err = r.u16("sensor_status"); err != nil {
			return m, err
		}
		if m.SensorStatus&^SensorStatusDefined != 0 {
			return m, &FieldError{c, "sensor_status", at, ErrReserved}
		}
		m.HasSensorStatus = true
	}
	m.ContextFollows = flags&glFlagContext != 0
	return m, r.end()
}

func (t GlucoseType) valid() bool { return t >= TypeCapillaryWholeBlood && t <= TypeControlSolution }

func (l SampleLocation) valid() bool {
	return (l >= LocationFinger && l <= LocationControlSolution) || l == LocationNotAvailable
}

// AppendGlucose appends the Glucose Measurement (0x2A18) encoding of m to
// dst. The concentration is sent in kg/L for [iomt.MgPerDL] and mol/L for
// [iomt.MmolPerL] when HasConcentration is set; the base time is MeasuredAt
// minus TimeOffset. Errors are [*FieldError] with Offset -1 wrapping
// [ErrOutOfRange] (unknown unit, unencodable value or year), [ErrSpecialValue]
// (concentration not finite) or [ErrReserved] (reserved type, location or
// sensor status bits). On error dst is returned unchanged.
func AppendGlucose(dst []byte, m GlucoseMeasurement) ([]byte, error) {
	c := GlucoseMeasurementCharacteristic
	orig := dst
	fail := func(field string, err error) ([]byte, error) {
		return orig, &FieldError{c, field, -1, err}
	}
	var flags byte
	shift := kgPerLToMgPerDL
	switch m.Unit {
	case iomt.MgPerDL:
	case iomt.MmolPerL:
		flags |= glFlagMolPerL
		shift = molPerLToMmolPerL
	default:
		return fail("unit", ErrOutOfRange)
	}
	if m.HasTimeOffset {
		flags |= glFlagTimeOffset
	}
	if m.HasConcentration {
		if !m.Type.valid() || !m.Location.valid() {
			return fail("type_sample_location", ErrReserved)
		}
		flags |= glFlagConcentation
	}
	if m.HasSensorStatus {
		if m.SensorStatus&^SensorStatusDefined != 0 {
			return fail("sensor_status", ErrReserved)
		}
		flags |= glFlagStatus
	}
	if m.ContextFollows {
		flags |= glFlagContext
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint16(dst, m.Sequence)
	base := m.MeasuredAt
	if !base.IsZero() {
		base = base.Add(-time.Duration(m.TimeOffset) * time.Minute)
	}
	var err error
	if dst, err = appendDateTime(dst, c, "base_time.", base); err != nil {
		return orig, err
	}
	if m.HasTimeOffset {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(m.TimeOffset))
	}
	if m.HasConcentration {
		if dst, err = appendSFloat(dst, m.Concentration, shift, false); err != nil {
			return fail("concentration", err)
		}
		dst = append(dst, byte(m.Type)|byte(m.Location)<<4)
	}
	if m.HasSensorStatus {
		dst = binary.LittleEndian.AppendUint16(dst, m.SensorStatus)
	}
	return dst, nil
}
