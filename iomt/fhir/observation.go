package fhir

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/openiomt/sdk/iomt"
)

// Code systems and profiles used in the Observations.
const (
	LOINCSystem          = "http://loinc.org"                                           // LOINC codes
	UCUMSystem           = "http://unitsofmeasure.org"                                  // UCUM units
	MDCSystem            = "urn:iso:std:iso:11073:10101"                                // IEEE 11073-10101 MDC codes
	CategorySystem       = "http://terminology.hl7.org/CodeSystem/observation-category" // observation categories
	BloodPressureProfile = "http://hl7.org/fhir/StructureDefinition/bp"                 // vital-signs blood pressure profile
	HeartRateProfile     = "http://hl7.org/fhir/StructureDefinition/heartrate"          // vital-signs heart rate profile
)

// ObservationNamespace is the UUID namespace of Observation ids: the
// version 5 UUID of the name "urn:openiomt:fhir:Observation" in the RFC 9562
// URL namespace. It never changes, or re-exports would stop being idempotent.
const ObservationNamespace = "0ecb22bd-2ec9-56bf-ba58-b8d553256cff"

// MaxBundleEntries bounds the records one [NewBundle] call maps (a blood
// pressure record with pulse yields two entries).
const MaxBundleEntries = 1000

// Sentinel errors for errors.Is.
var (
	// ErrMissingID reports a record without a device or patient UUID.
	ErrMissingID = errors.New("fhir: missing identifier")
	// ErrInvalidReading reports a reading that fails its Validate method;
	// the iomt sentinel is wrapped too.
	ErrInvalidReading = errors.New("fhir: invalid reading")
	// ErrUnsupportedReading reports a nil reading or a type this package
	// cannot map.
	ErrUnsupportedReading = errors.New("fhir: unsupported reading type")
	// ErrTooManyRecords reports more than MaxBundleEntries records.
	ErrTooManyRecords = errors.New("fhir: too many records for one bundle")
	// ErrBundleType reports a bundle type other than Collection or Transaction.
	ErrBundleType = errors.New("fhir: unsupported bundle type")
)

// RecordError reports which record of a bundle failed.
type RecordError struct {
	// Index is the record's position in the input.
	Index int
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *RecordError) Error() string {
	return "fhir: record " + strconv.Itoa(e.Index) + ": " + trimPrefix(e.Err.Error())
}

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

func trimPrefix(s string) string {
	const p = "fhir: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// Record is one reading as the cloud stores it: the device that measured it,
// the patient it belongs to, the device's sequence number and the reading.
type Record struct {
	Device  iomt.DeviceID
	Patient iomt.PatientID
	Seq     uint64
	// Reading is an iomt.BloodPressure, iomt.HeartRate or iomt.Glucose, or a
	// pointer to one.
	Reading iomt.Reading
}

// LogValue implements slog.LogValuer: the device, sequence number, kind and
// a redacted patient prefix, never the measured values.
func (r Record) LogValue() slog.Value {
	kind := "unsupported"
	switch v := r.Reading.(type) {
	case iomt.BloodPressure, iomt.HeartRate, iomt.Glucose:
		kind = string(v.Kind())
	case *iomt.BloodPressure, *iomt.HeartRate, *iomt.Glucose:
		if !reflect.ValueOf(v).IsNil() {
			kind = string(v.Kind())
		}
	}
	return slog.GroupValue(
		slog.String("device", r.Device.String()),
		slog.Any("patient", r.Patient),
		slog.Uint64("seq", r.Seq),
		slog.String("kind", kind),
	)
}

// ObservationID returns the deterministic Observation id for part ("bp",
// "pulse", "hr" or "glucose") of the reading seq of device.
func ObservationID(device iomt.DeviceID, seq uint64, part string) string {
	ns := uuid.MustParse(ObservationNamespace)
	name := device.String() + "/" + strconv.FormatUint(seq, 10) + "/" + part
	return uuid.NewSHA1(ns, []byte(name)).String()
}

// NewObservations maps rec to its Observations: one for a heart rate or
// glucose reading; one blood pressure panel, followed by a heart rate
// Observation when the pulse was measured, for a blood pressure reading.
func NewObservations(rec Record) ([]Observation, error) {
	if rec.Device.IsZero() {
		return nil, fmt.Errorf("%w: device", ErrMissingID)
	}
	if rec.Patient.IsZero() {
		return nil, fmt.Errorf("%w: patient", ErrMissingID)
	}
	switch r := rec.Reading.(type) {
	case iomt.BloodPressure:
		return bloodPressure(rec, r)
	case *iomt.BloodPressure:
		if r != nil {
			return bloodPressure(rec, *r)
		}
	case iomt.HeartRate:
		return heartRate(rec, r)
	case *iomt.HeartRate:
		if r != nil {
			return heartRate(rec, *r)
		}
	case iomt.Glucose:
		return glucose(rec, r)
	case *iomt.Glucose:
		if r != nil {
			return glucose(rec, *r)
		}
	}
	return nil, ErrUnsupportedReading
}

// NewBundle maps recs, in order, into one Bundle of type typ. Transaction
// entries are PUT requests to Observation/<id>. Any failing record fails the
// call with a [*RecordError].
func NewBundle(typ BundleType, recs []Record) (Bundle, error) {
	if typ != Collection && typ != Transaction {
		return Bundle{}, ErrBundleType
	}
	if len(recs) > MaxBundleEntries {
		return Bundle{}, ErrTooManyRecords
	}
	b := Bundle{ResourceType: "Bundle", Type: typ, Entry: make([]BundleEntry, 0, len(recs))}
	for i, rec := range recs {
		obs, err := NewObservations(rec)
		if err != nil {
			return Bundle{}, &RecordError{Index: i, Err: err}
		}
		for _, o := range obs {
			e := BundleEntry{FullURL: "urn:uuid:" + o.ID, Resource: o}
			if typ == Transaction {
				e.Request = &BundleRequest{Method: "PUT", URL: "Observation/" + o.ID}
			}
			b.Entry = append(b.Entry, e)
		}
	}
	return b, nil
}

func validate(r iomt.Reading) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidReading, err)
	}
	// FHIR dateTime has four-digit years.
	if y := r.Time().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: ts outside the FHIR dateTime years 0001-9999", ErrInvalidReading)
	}
	return nil
}

func loinc(code, display string) Coding {
	return Coding{System: LOINCSystem, Code: code, Display: display}
}

func base(rec Record, part string, t time.Time, category string, code CodeableConcept, profiles ...string) Observation {
	o := Observation{
		ResourceType:      "Observation",
		ID:                ObservationID(rec.Device, rec.Seq, part),
		Status:            "final",
		Category:          []CodeableConcept{categoryConcept(category)},
		Code:              code,
		Subject:           Reference{Reference: "Patient/" + rec.Patient.String()},
		EffectiveDateTime: t.Format(time.RFC3339Nano),
		Device:            &Reference{Reference: "Device/" + rec.Device.String()},
	}
	if len(profiles) > 0 {
		o.Meta = &Meta{Profile: profiles}
	}
	return o
}

func categoryConcept(code string) CodeableConcept {
	display := "Laboratory"
	if code == "vital-signs" {
		display = "Vital Signs"
	}
	return CodeableConcept{Coding: []Coding{{System: CategorySystem, Code: code, Display: display}}, Text: display}
}

func mmHg(v float64) *Quantity {
	return &Quantity{Value: v, Unit: "mmHg", System: UCUMSystem, Code: "mm[Hg]"}
}

func perMin(v float64) *Quantity {
	return &Quantity{Value: v, Unit: "beats/minute", System: UCUMSystem, Code: "/min"}
}

// toMmHg converts a pressure to mm[Hg]; converted kPa values are rounded to
// 0.1 mm[Hg], finer than any cuff resolves.
func toMmHg(u iomt.PressureUnit, v float64) float64 {
	if u == iomt.MmHg {
		return v
	}
	return math.Round(u.ToMmHg(v)*10) / 10
}

func bloodPressure(rec Record, bp iomt.BloodPressure) ([]Observation, error) {
	if err := validate(bp); err != nil {
		return nil, err
	}
	code := CodeableConcept{
		Coding: []Coding{
			loinc("85354-9", "Blood pressure panel with all children optional"),
			{System: MDCSystem, Code: "150020", Display: "MDC_PRESS_BLD_NONINV"},
		},
		Text: "Blood pressure systolic and diastolic",
	}
	o := base(rec, "bp", bp.MeasuredAt, "vital-signs", code, BloodPressureProfile)
	o.Component = []Component{
		{Code: CodeableConcept{Coding: []Coding{
			loinc("8480-6", "Systolic blood pressure"),
			{System: MDCSystem, Code: "150021", Display: "MDC_PRESS_BLD_NONINV_SYS"},
		}, Text: "Systolic blood pressure"}, ValueQuantity: mmHg(toMmHg(bp.Unit, bp.Systolic))},
		{Code: CodeableConcept{Coding: []Coding{
			loinc("8462-4", "Diastolic blood pressure"),
			{System: MDCSystem, Code: "150022", Display: "MDC_PRESS_BLD_NONINV_DIA"},
		}, Text: "Diastolic blood pressure"}, ValueQuantity: mmHg(toMmHg(bp.Unit, bp.Diastolic))},
	}
	if bp.MeanArterial != 0 {
		o.Component = append(o.Component, Component{Code: CodeableConcept{Coding: []Coding{
			loinc("8478-0", "Mean blood pressure"),
			{System: MDCSystem, Code: "150023", Display: "MDC_PRESS_BLD_NONINV_MEAN"},
		}, Text: "Mean arterial pressure"}, ValueQuantity: mmHg(toMmHg(bp.Unit, bp.MeanArterial))})
	}
	obs := []Observation{o}
	if bp.Pulse != 0 {
		obs = append(obs, heartRateObservation(rec, "pulse", bp.Pulse, bp.MeasuredAt))
	}
	return obs, nil
}

func heartRate(rec Record, hr iomt.HeartRate) ([]Observation, error) {
	if err := validate(hr); err != nil {
		return nil, err
	}
	return []Observation{heartRateObservation(rec, "hr", hr.BPM, hr.MeasuredAt)}, nil
}

func heartRateObservation(rec Record, part string, bpm float64, t time.Time) Observation {
	code := CodeableConcept{Coding: []Coding{
		loinc("8867-4", "Heart rate"),
		{System: MDCSystem, Code: "149546", Display: "MDC_PULS_RATE_NON_INV"},
	}, Text: "Heart rate"}
	o := base(rec, part, t, "vital-signs", code, HeartRateProfile)
	o.ValueQuantity = perMin(bpm)
	return o
}

func glucose(rec Record, g iomt.Glucose) ([]Observation, error) {
	if err := validate(g); err != nil {
		return nil, err
	}
	var c Coding
	switch g.Unit {
	case iomt.MmolPerL:
		c = loinc("15074-8", "Glucose [Moles/volume] in Blood")
	default:
		c = loinc("2339-0", "Glucose [Mass/volume] in Blood")
	}
	o := base(rec, "glucose", g.MeasuredAt, "laboratory", CodeableConcept{Coding: []Coding{c}, Text: "Blood glucose"})
	o.ValueQuantity = &Quantity{Value: g.Concentration, Unit: g.Unit.String(), System: UCUMSystem, Code: g.Unit.String()}
	return []Observation{o}, nil
}
