package iomt

import (
	"fmt"
	"math"
	"time"
)

// Kind names a measurement type. It is the telemetry "kind" and the last
// segment of the MQTT topic iomt/v1/{deviceID}/telemetry/{kind}.
type Kind string

// The measurement kinds this package defines.
const (
	KindBloodPressure Kind = "blood_pressure"
	KindHeartRate     Kind = "heart_rate"
	KindGlucose       Kind = "glucose"
)

// Kinds returns every defined kind, in a stable order.
func Kinds() []Kind { return []Kind{KindBloodPressure, KindHeartRate, KindGlucose} }

// Valid reports whether k is a defined kind.
func (k Kind) Valid() bool {
	switch k {
	case KindBloodPressure, KindHeartRate, KindGlucose:
		return true
	}
	return false
}

// ParseKind returns the Kind spelled s, or [ErrUnknownKind].
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); k.Valid() {
		return k, nil
	}
	return "", ErrUnknownKind
}

// Reading is implemented by every measurement type: [BloodPressure],
// [HeartRate] and [Glucose], and pointers to them.
type Reading interface {
	// Kind returns the measurement kind.
	Kind() Kind
	// Time returns when the measurement was taken.
	Time() time.Time
	// Validate checks physiological bounds and finiteness.
	Validate() error
}

// NewReading returns a pointer to the zero value of the measurement type for
// k, ready to be decoded into, or [ErrUnknownKind].
func NewReading(k Kind) (Reading, error) {
	switch k {
	case KindBloodPressure:
		return new(BloodPressure), nil
	case KindHeartRate:
		return new(HeartRate), nil
	case KindGlucose:
		return new(Glucose), nil
	}
	return nil, ErrUnknownKind
}

// PressureUnit is the unit of a blood pressure. Its JSON form is its numeric
// code. The zero value is millimetres of mercury.
type PressureUnit uint8

// Pressure units.
const (
	MmHg PressureUnit = 0 // millimetres of mercury, UCUM mm[Hg]
	KPa  PressureUnit = 1 // kilopascal, UCUM kPa
)

// PascalsPerMmHg is the conventional millimetre of mercury, exactly
// 133.322387415 Pa (BIPM SI brochure, table 8). Conversions use it both ways.
const PascalsPerMmHg = 133.322387415

// Valid reports whether u is a defined unit.
func (u PressureUnit) Valid() bool { return u == MmHg || u == KPa }

// String returns the UCUM code: "mm[Hg]" or "kPa".
func (u PressureUnit) String() string {
	switch u {
	case MmHg:
		return "mm[Hg]"
	case KPa:
		return "kPa"
	}
	return fmt.Sprintf("PressureUnit(%d)", uint8(u))
}

// ToMmHg converts a pressure value in unit u to millimetres of mercury.
func (u PressureUnit) ToMmHg(v float64) float64 {
	if u == KPa {
		return v * 1000 / PascalsPerMmHg
	}
	return v
}

// FromMmHg converts a pressure in millimetres of mercury to unit u.
func (u PressureUnit) FromMmHg(v float64) float64 {
	if u == KPa {
		return v * PascalsPerMmHg / 1000
	}
	return v
}

// MeasurementStatus holds the Blood Pressure Measurement Status flags of the
// Bluetooth Blood Pressure Profile (characteristic 0x2A35). Its JSON form is
// the numeric bit field; undefined bits fail Validate.
type MeasurementStatus uint16

// Measurement status flags and the two-bit pulse-rate-range field.
const (
	StatusBodyMovement      MeasurementStatus = 1 << 0 // body moved during measurement
	StatusCuffTooLoose      MeasurementStatus = 1 << 1 // cuff fit too loose
	StatusIrregularPulse    MeasurementStatus = 1 << 2 // irregular pulse detected
	StatusPulseAboveRange   MeasurementStatus = 1 << 3 // pulse rate exceeds upper limit
	StatusPulseBelowRange   MeasurementStatus = 2 << 3 // pulse rate below lower limit
	StatusImproperPosition  MeasurementStatus = 1 << 5 // improper measurement position
	statusPulseRangeMask    MeasurementStatus = 3 << 3
	statusDefinedMask       MeasurementStatus = 0x3f
	statusPulseRangeInvalid MeasurementStatus = 3 << 3
)

// Has reports whether every flag in f is set in s.
func (s MeasurementStatus) Has(f MeasurementStatus) bool { return s&f == f }

// PulseRange returns the pulse-rate-range field: 0 within range,
// [StatusPulseAboveRange] or [StatusPulseBelowRange].
func (s MeasurementStatus) PulseRange() MeasurementStatus { return s & statusPulseRangeMask }

// Valid reports whether only defined bits are set and the pulse-rate-range
// field does not hold its reserved value.
func (s MeasurementStatus) Valid() bool {
	return s&^statusDefinedMask == 0 && s&statusPulseRangeMask != statusPulseRangeInvalid
}

// BloodPressure is one non-invasive blood pressure measurement.
//
// Pressures are in Unit. MeanArterial and Pulse are optional: zero means not
// measured. Pulse is in beats per minute.
type BloodPressure struct {
	Systolic     float64           `json:"sys"`
	Diastolic    float64           `json:"dia"`
	MeanArterial float64           `json:"map,omitempty"`
	Unit         PressureUnit      `json:"unit"`
	Pulse        float64           `json:"pulse,omitempty"`
	Status       MeasurementStatus `json:"status"`
	// MeasuredAt is when the cuff measurement completed. It travels in the
	// telemetry envelope's "ts", not in the JSON form.
	MeasuredAt time.Time `json:"-"`
}

// Physiological bounds, in mmHg and beats per minute, that Validate enforces.
// They are deliberately wide: they catch sensor faults and unit mix-ups, not
// clinical abnormality.
const (
	MinSystolicMmHg  = 40
	MaxSystolicMmHg  = 300
	MinDiastolicMmHg = 20
	MaxDiastolicMmHg = 200
	MinPulseBPM      = 20
	MaxPulseBPM      = 300
)

// Kind returns [KindBloodPressure].
func (BloodPressure) Kind() Kind { return KindBloodPressure }

// Time returns MeasuredAt.
func (b BloodPressure) Time() time.Time { return b.MeasuredAt }

// In returns b with its pressures converted to unit u. Converting to the unit
// it already has returns b unchanged.
func (b BloodPressure) In(u PressureUnit) BloodPressure {
	if u == b.Unit {
		return b
	}
	conv := func(v float64) float64 { return u.FromMmHg(b.Unit.ToMmHg(v)) }
	b.Systolic, b.Diastolic = conv(b.Systolic), conv(b.Diastolic)
	if b.MeanArterial != 0 {
		b.MeanArterial = conv(b.MeanArterial)
	}
	b.Unit = u
	return b
}

// Validate checks that all values are finite, the unit and status are defined,
// systolic is 40–300 mmHg, diastolic 20–200 mmHg, systolic above diastolic, a
// present mean arterial pressure lies between them, a present pulse is 20–300
// per minute, and MeasuredAt is set. Errors are [*ValidationError].
func (b BloodPressure) Validate() error {
	k := KindBloodPressure
	if !b.Unit.Valid() {
		return &ValidationError{Kind: k, Field: "unit", Err: ErrUnknownUnit}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"sys", b.Systolic}, {"dia", b.Diastolic}, {"map", b.MeanArterial}, {"pulse", b.Pulse}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return &ValidationError{Kind: k, Field: f.name, Err: ErrNotFinite}
		}
	}
	sys, dia := b.Unit.ToMmHg(b.Systolic), b.Unit.ToMmHg(b.Diastolic)
	if err := inRange(k, "sys", sys, MinSystolicMmHg, MaxSystolicMmHg, "40-300 mmHg"); err != nil {
		return err
	}
	if err := inRange(k, "dia", dia, MinDiastolicMmHg, MaxDiastolicMmHg, "20-200 mmHg"); err != nil {
		return err
	}
	if !(sys > dia) {
		return &ValidationError{Kind: k, Field: "sys", Rule: "systolic above diastolic", Err: ErrInconsistent}
	}
	if b.MeanArterial != 0 {
		m := b.Unit.ToMmHg(b.MeanArterial)
		if m < dia || m > sys {
			return &ValidationError{Kind: k, Field: "map", Rule: "between diastolic and systolic", Err: ErrInconsistent}
		}
	}
	if b.Pulse != 0 {
		if err := inRange(k, "pulse", b.Pulse, MinPulseBPM, MaxPulseBPM, "20-300 /min"); err != nil {
			return err
		}
	}
	if !b.Status.Valid() {
		return &ValidationError{Kind: k, Field: "status", Rule: "defined flags only", Err: ErrOutOfRange}
	}
	if b.MeasuredAt.IsZero() {
		return &ValidationError{Kind: k, Field: "ts", Err: ErrMissingTime}
	}
	return nil
}

// HeartRate is one heart-rate measurement in beats per minute.
type HeartRate struct {
	BPM float64 `json:"bpm"`
	// MeasuredAt travels in the telemetry envelope's "ts".
	MeasuredAt time.Time `json:"-"`
}

// Kind returns [KindHeartRate].
func (HeartRate) Kind() Kind { return KindHeartRate }

// Time returns MeasuredAt.
func (h HeartRate) Time() time.Time { return h.MeasuredAt }

// Validate checks that BPM is finite and 20–300 and MeasuredAt is set.
func (h HeartRate) Validate() error {
	k := KindHeartRate
	if math.IsNaN(h.BPM) || math.IsInf(h.BPM, 0) {
		return &ValidationError{Kind: k, Field: "bpm", Err: ErrNotFinite}
	}
	if err := inRange(k, "bpm", h.BPM, MinPulseBPM, MaxPulseBPM, "20-300 /min"); err != nil {
		return err
	}
	if h.MeasuredAt.IsZero() {
		return &ValidationError{Kind: k, Field: "ts", Err: ErrMissingTime}
	}
	return nil
}

// GlucoseUnit is the unit of a glucose concentration. Its JSON form is its
// numeric code. The zero value is milligrams per decilitre.
type GlucoseUnit uint8

// Glucose units.
const (
	MgPerDL  GlucoseUnit = 0 // milligrams per decilitre, UCUM mg/dL
	MmolPerL GlucoseUnit = 1 // millimoles per litre, UCUM mmol/L
)

// GlucoseMolarMass is the molar mass of glucose (C6H12O6) in g/mol, used for
// conversions between mg/dL and mmol/L: mmol/L = mg/dL × 10 / 180.156.
const GlucoseMolarMass = 180.156

// Valid reports whether u is a defined unit.
func (u GlucoseUnit) Valid() bool { return u == MgPerDL || u == MmolPerL }

// String returns the UCUM code: "mg/dL" or "mmol/L".
func (u GlucoseUnit) String() string {
	switch u {
	case MgPerDL:
		return "mg/dL"
	case MmolPerL:
		return "mmol/L"
	}
	return fmt.Sprintf("GlucoseUnit(%d)", uint8(u))
}

// ToMgPerDL converts a concentration in unit u to mg/dL.
func (u GlucoseUnit) ToMgPerDL(v float64) float64 {
	if u == MmolPerL {
		return v * GlucoseMolarMass / 10
	}
	return v
}

// FromMgPerDL converts a concentration in mg/dL to unit u.
func (u GlucoseUnit) FromMgPerDL(v float64) float64 {
	if u == MmolPerL {
		return v * 10 / GlucoseMolarMass
	}
	return v
}

// MealContext says when a glucose sample was taken relative to a meal.
type MealContext uint8

// Meal contexts, numbered as in the Bluetooth Glucose Measurement Context
// characteristic (0x2A34).
const (
	MealUnknown      MealContext = 0
	MealPreprandial  MealContext = 1
	MealPostprandial MealContext = 2
	MealFasting      MealContext = 3
	MealCasual       MealContext = 4
	MealBedtime      MealContext = 5
)

// Glucose is one blood glucose concentration measurement.
type Glucose struct {
	Concentration float64     `json:"conc"`
	Unit          GlucoseUnit `json:"unit"`
	Meal          MealContext `json:"meal,omitempty"`
	// MeasuredAt travels in the telemetry envelope's "ts".
	MeasuredAt time.Time `json:"-"`
}

// Glucose bounds in mg/dL that Validate enforces (meter-reportable range with
// margin).
const (
	MinGlucoseMgPerDL = 10
	MaxGlucoseMgPerDL = 1000
)

// Kind returns [KindGlucose].
func (Glucose) Kind() Kind { return KindGlucose }

// Time returns MeasuredAt.
func (g Glucose) Time() time.Time { return g.MeasuredAt }

// In returns g converted to unit u.
func (g Glucose) In(u GlucoseUnit) Glucose {
	if u == g.Unit {
		return g
	}
	g.Concentration = u.FromMgPerDL(g.Unit.ToMgPerDL(g.Concentration))
	g.Unit = u
	return g
}

// Validate checks the unit, finiteness, 10–1000 mg/dL, the meal context and
// that MeasuredAt is set.
func (g Glucose) Validate() error {
	k := KindGlucose
	if !g.Unit.Valid() {
		return &ValidationError{Kind: k, Field: "unit", Err: ErrUnknownUnit}
	}
	if math.IsNaN(g.Concentration) || math.IsInf(g.Concentration, 0) {
		return &ValidationError{Kind: k, Field: "conc", Err: ErrNotFinite}
	}
	if err := inRange(k, "conc", g.Unit.ToMgPerDL(g.Concentration), MinGlucoseMgPerDL, MaxGlucoseMgPerDL, "10-1000 mg/dL"); err != nil {
		return err
	}
	if g.Meal > MealBedtime {
		return &ValidationError{Kind: k, Field: "meal", Rule: "defined meal context", Err: ErrOutOfRange}
	}
	if g.MeasuredAt.IsZero() {
		return &ValidationError{Kind: k, Field: "ts", Err: ErrMissingTime}
	}
	return nil
}

func inRange(k Kind, field string, v, lo, hi float64, rule string) error {
	if v < lo || v > hi {
		return &ValidationError{Kind: k, Field: field, Rule: rule, Err: ErrOutOfRange}
	}
	return nil
}

var (
	_ Reading = BloodPressure{}
	_ Reading = HeartRate{}
	_ Reading = Glucose{}
)
