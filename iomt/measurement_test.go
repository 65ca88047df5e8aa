package iomt

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC)

func goodBP() BloodPressure {
	return BloodPressure{Systolic: 120, Diastolic: 80, MeanArterial: 93, Pulse: 72, MeasuredAt: at}
}

// wantValidation checks err wraps sentinel in a *ValidationError for field,
// and that the message carries none of the digits in secret.
func wantValidation(t *testing.T, err, sentinel error, kind Kind, field, secret string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err %T is not *ValidationError", err)
	}
	if ve.Kind != kind || ve.Field != field {
		t.Fatalf("error names %s.%s, want %s.%s", ve.Kind, ve.Field, kind, field)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "iomt: ") {
		t.Fatalf("message %q lacks prefix", msg)
	}
	if secret != "" && strings.Contains(msg, secret) {
		t.Fatalf("message %q contains the value %s", msg, secret)
	}
}

func TestBloodPressureValid(t *testing.T) {
	for name, bp := range map[string]BloodPressure{
		"full":            goodBP(),
		"no map no pulse": {Systolic: 120, Diastolic: 80, MeasuredAt: at},
		"bounds":          {Systolic: 300, Diastolic: 200, MeasuredAt: at},
		"low bounds":      {Systolic: 40.5, Diastolic: 20, Pulse: 20, MeasuredAt: at},
		"kPa":             {Systolic: 16, Diastolic: 10.7, MeanArterial: 12.5, Unit: KPa, MeasuredAt: at},
		"status flags":    {Systolic: 120, Diastolic: 80, Status: StatusBodyMovement | StatusCuffTooLoose | StatusIrregularPulse | StatusPulseBelowRange | StatusImproperPosition, MeasuredAt: at},
	} {
		if err := bp.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBloodPressureValidateRules(t *testing.T) {
	k := KindBloodPressure
	cases := []struct {
		name     string
		mod      func(*BloodPressure)
		sentinel error
		field    string
		secret   string
	}{
		{"unknown unit", func(b *BloodPressure) { b.Unit = 2 }, ErrUnknownUnit, "unit", ""},
		{"systolic NaN", func(b *BloodPressure) { b.Systolic = math.NaN() }, ErrNotFinite, "sys", ""},
		{"diastolic +Inf", func(b *BloodPressure) { b.Diastolic = math.Inf(1) }, ErrNotFinite, "dia", ""},
		{"map -Inf", func(b *BloodPressure) { b.MeanArterial = math.Inf(-1) }, ErrNotFinite, "map", ""},
		{"pulse NaN", func(b *BloodPressure) { b.Pulse = math.NaN() }, ErrNotFinite, "pulse", ""},
		{"systolic too high", func(b *BloodPressure) { b.Systolic = 317.25 }, ErrOutOfRange, "sys", "317"},
		{"systolic too low", func(b *BloodPressure) { b.Systolic, b.Diastolic, b.MeanArterial = 39.75, 21, 0 }, ErrOutOfRange, "sys", "39"},
		{"diastolic too high", func(b *BloodPressure) { b.Systolic, b.Diastolic, b.MeanArterial = 290, 211.5, 0 }, ErrOutOfRange, "dia", "211"},
		{"diastolic too low", func(b *BloodPressure) { b.Diastolic, b.MeanArterial = 13.5, 0 }, ErrOutOfRange, "dia", "13"},
		{"systolic equals diastolic", func(b *BloodPressure) { b.Systolic, b.Diastolic, b.MeanArterial = 97, 97, 0 }, ErrInconsistent, "sys", "97"},
		{"systolic below diastolic", func(b *BloodPressure) { b.Systolic, b.Diastolic, b.MeanArterial = 81, 99, 0 }, ErrInconsistent, "sys", "99"},
		{"map above systolic", func(b *BloodPressure) { b.MeanArterial = 121.5 }, ErrInconsistent, "map", "121"},
		{"map below diastolic", func(b *BloodPressure) { b.MeanArterial = 79.5 }, ErrInconsistent, "map", "79"},
		{"map negative", func(b *BloodPressure) { b.MeanArterial = -93 }, ErrInconsistent, "map", "93"},
		{"pulse too high", func(b *BloodPressure) { b.Pulse = 301.5 }, ErrOutOfRange, "pulse", "301"},
		{"pulse too low", func(b *BloodPressure) { b.Pulse = 19.5 }, ErrOutOfRange, "pulse", "19"},
		{"pulse negative", func(b *BloodPressure) { b.Pulse = -72 }, ErrOutOfRange, "pulse", "72"},
		{"undefined status bit", func(b *BloodPressure) { b.Status = 1 << 6 }, ErrOutOfRange, "status", ""},
		{"reserved pulse range", func(b *BloodPressure) { b.Status = 3 << 3 }, ErrOutOfRange, "status", ""},
		{"missing time", func(b *BloodPressure) { b.MeasuredAt = time.Time{} }, ErrMissingTime, "ts", ""},
		// 45 kPa is 337.5 mmHg: out of range once converted.
		{"kPa systolic too high", func(b *BloodPressure) { b.Unit, b.Systolic, b.Diastolic, b.MeanArterial = KPa, 45, 10, 0 }, ErrOutOfRange, "sys", "45"},
		// 120 "kPa" is a unit mix-up.
		{"mmHg values labelled kPa", func(b *BloodPressure) { b.Unit = KPa }, ErrOutOfRange, "sys", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bp := goodBP()
			c.mod(&bp)
			wantValidation(t, bp.Validate(), c.sentinel, k, c.field, c.secret)
		})
	}
}

func TestHeartRateValidate(t *testing.T) {
	if err := (HeartRate{BPM: 64, MeasuredAt: at}).Validate(); err != nil {
		t.Fatal(err)
	}
	k := KindHeartRate
	wantValidation(t, HeartRate{BPM: math.NaN(), MeasuredAt: at}.Validate(), ErrNotFinite, k, "bpm", "")
	wantValidation(t, HeartRate{BPM: math.Inf(1), MeasuredAt: at}.Validate(), ErrNotFinite, k, "bpm", "")
	wantValidation(t, HeartRate{BPM: 333, MeasuredAt: at}.Validate(), ErrOutOfRange, k, "bpm", "333")
	wantValidation(t, HeartRate{BPM: 0, MeasuredAt: at}.Validate(), ErrOutOfRange, k, "bpm", "")
	wantValidation(t, HeartRate{BPM: 64}.Validate(), ErrMissingTime, k, "ts", "")
}

func TestGlucoseValidate(t *testing.T) {
	for _, g := range []Glucose{
		{Concentration: 95, MeasuredAt: at},
		{Concentration: 5.3, Unit: MmolPerL, Meal: MealBedtime, MeasuredAt: at},
		{Concentration: 10, MeasuredAt: at},
		{Concentration: 1000, MeasuredAt: at},
	} {
		if err := g.Validate(); err != nil {
			t.Errorf("%+v: %v", g, err)
		}
	}
	k := KindGlucose
	wantValidation(t, Glucose{Concentration: 95, Unit: 2, MeasuredAt: at}.Validate(), ErrUnknownUnit, k, "unit", "")
	wantValidation(t, Glucose{Concentration: math.NaN(), MeasuredAt: at}.Validate(), ErrNotFinite, k, "conc", "")
	wantValidation(t, Glucose{Concentration: 1234.5, MeasuredAt: at}.Validate(), ErrOutOfRange, k, "conc", "1234")
	wantValidation(t, Glucose{Concentration: 9.5, MeasuredAt: at}.Validate(), ErrOutOfRange, k, "conc", "9.5")
	// 95 "mmol/L" is 1711 mg/dL: a unit mix-up.
	wantValidation(t, Glucose{Concentration: 95, Unit: MmolPerL, MeasuredAt: at}.Validate(), ErrOutOfRange, k, "conc", "95")
	wantValidation(t, Glucose{Concentration: 95, Meal: 6, MeasuredAt: at}.Validate(), ErrOutOfRange, k, "meal", "")
	wantValidation(t, Glucose{Concentration: 95}.Validate(), ErrMissingTime, k, "ts", "")
}

func TestValidationErrorWithoutSentinel(t *testing.T) {
	e := &ValidationError{Kind: KindGlucose, Field: "conc"}
	if got := e.Error(); got != "iomt: glucose.conc: invalid value" {
		t.Fatalf("%q", got)
	}
	e = &ValidationError{Kind: KindBloodPressure, Field: "sys", Rule: "40-300 mmHg", Err: ErrOutOfRange}
	if got := e.Error(); got != "iomt: blood_pressure.sys: value out of range (40-300 mmHg)" {
		t.Fatalf("%q", got)
	}
}

func TestPressureConversion(t *testing.T) {
	// 1 mmHg = 133.322387415 Pa exactly, so 7.5 mmHg ≈ 1 kPa.
	if got := KPa.FromMmHg(1); math.Abs(got-0.133322387415) > 1e-15 {
		t.Fatalf("1 mmHg = %v kPa", got)
	}
	if got := KPa.ToMmHg(13.3322387415); math.Abs(got-100) > 1e-12 {
		t.Fatalf("13.332 kPa = %v mmHg", got)
	}
	if MmHg.ToMmHg(120) != 120 || MmHg.FromMmHg(120) != 120 {
		t.Fatal("mmHg identity")
	}
	for v := 20.0; v <= 300; v += 0.1 {
		back := KPa.ToMmHg(KPa.FromMmHg(v))
		if math.Abs(back-v) > 1e-12*v {
			t.Fatalf("%v mmHg round-trips to %v", v, back)
		}
	}
	bp := goodBP().In(KPa)
	if bp.Unit != KPa || math.Abs(bp.Systolic-15.99868648980) > 1e-9 || bp.Pulse != 72 {
		t.Fatalf("In(KPa) = %+v", bp)
	}
	if err := bp.Validate(); err != nil {
		t.Fatalf("converted reading invalid: %v", err)
	}
	back := bp.In(MmHg)
	if math.Abs(back.Systolic-120) > 1e-12 || math.Abs(back.Diastolic-80) > 1e-12 || math.Abs(back.MeanArterial-93) > 1e-12 {
		t.Fatalf("round trip %+v", back)
	}
	noMAP := BloodPressure{Systolic: 120, Diastolic: 80}.In(KPa)
	if noMAP.MeanArterial != 0 {
		t.Fatal("absent MAP became non-zero")
	}
	same := goodBP()
	if same.In(MmHg) != same {
		t.Fatal("In(same unit) changed the value")
	}
}

func TestGlucoseConversion(t *testing.T) {
	// 180.156 mg/dL = 10 mmol/L by definition of the molar mass.
	if got := MmolPerL.FromMgPerDL(180.156); math.Abs(got-10) > 1e-12 {
		t.Fatalf("180.156 mg/dL = %v mmol/L", got)
	}
	if got := MmolPerL.ToMgPerDL(5.5); math.Abs(got-99.0858) > 1e-9 {
		t.Fatalf("5.5 mmol/L = %v mg/dL", got)
	}
	for v := 10.0; v <= 1000; v += 0.5 {
		back := MmolPerL.ToMgPerDL(MmolPerL.FromMgPerDL(v))
		if math.Abs(back-v) > 1e-12*v {
			t.Fatalf("%v mg/dL round-trips to %v", v, back)
		}
	}
	g := Glucose{Concentration: 95, MeasuredAt: at}.In(MmolPerL)
	if g.Unit != MmolPerL || math.Abs(g.Concentration-5.273207) > 1e-6 {
		t.Fatalf("%+v", g)
	}
	if back := g.In(MgPerDL); math.Abs(back.Concentration-95) > 1e-12 {
		t.Fatalf("%+v", back)
	}
}

func TestUnitStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{MmHg.String(), "mm[Hg]"}, {KPa.String(), "kPa"}, {PressureUnit(9).String(), "PressureUnit(9)"},
		{MgPerDL.String(), "mg/dL"}, {MmolPerL.String(), "mmol/L"}, {GlucoseUnit(9).String(), "GlucoseUnit(9)"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
	if PressureUnit(2).Valid() || GlucoseUnit(2).Valid() || !KPa.Valid() || !MmolPerL.Valid() {
		t.Fatal("Valid")
	}
}

func TestMeasurementStatus(t *testing.T) {
	s := StatusIrregularPulse | StatusPulseAboveRange
	if !s.Has(StatusIrregularPulse) || s.Has(StatusBodyMovement) || s.PulseRange() != StatusPulseAboveRange {
		t.Fatal("Has/PulseRange")
	}
	if (StatusPulseBelowRange).PulseRange() != StatusPulseBelowRange || MeasurementStatus(0).PulseRange() != 0 {
		t.Fatal("PulseRange")
	}
	if !MeasurementStatus(0x3f&^(1<<4)).Valid() || MeasurementStatus(0x18).Valid() || MeasurementStatus(0x40).Valid() {
		t.Fatal("Valid")
	}
}

func TestKinds(t *testing.T) {
	for _, k := range Kinds() {
		got, err := ParseKind(string(k))
		if err != nil || got != k || !k.Valid() {
			t.Fatalf("%s: %v", k, err)
		}
		r, err := NewReading(k)
		if err != nil || r.Kind() != k {
			t.Fatalf("NewReading(%s) = %T, %v", k, r, err)
		}
	}
	for _, s := range []string{"", "Blood_Pressure", "weight", "blood_pressure "} {
		if _, err := ParseKind(s); !errors.Is(err, ErrUnknownKind) {
			t.Errorf("ParseKind(%q): %v", s, err)
		}
	}
	if _, err := NewReading("weight"); !errors.Is(err, ErrUnknownKind) {
		t.Fatal("NewReading(weight)")
	}
	if goodBP().Time() != at || (HeartRate{MeasuredAt: at}).Time() != at || (Glucose{MeasuredAt: at}).Time() != at {
		t.Fatal("Time()")
	}
}

// TestJSONHoldsOnlyNumbers: the telemetry PHI guard rejects strings inside a
// reading's data, so every measurement must marshal to numbers only.
func TestJSONHoldsOnlyNumbers(t *testing.T) {
	for _, r := range []Reading{goodBP(), HeartRate{BPM: 64, MeasuredAt: at}, Glucose{Concentration: 5.3, Unit: MmolPerL, Meal: MealFasting, MeasuredAt: at}} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range m {
			if _, ok := v.(float64); !ok {
				t.Errorf("%s: field %s is %T", r.Kind(), k, v)
			}
		}
		if _, ok := m["ts"]; ok {
			t.Errorf("%s: measurement time in JSON", r.Kind())
		}
		// And it decodes back through NewReading.
		dst, _ := NewReading(r.Kind())
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(goodBP())
	if string(b) != `{"sys":120,"dia":80,"map":93,"unit":0,"pulse":72,"status":0}` {
		t.Fatalf("BP JSON %s", b)
	}
	b, _ = json.Marshal(BloodPressure{Systolic: 120, Diastolic: 80})
	if string(b) != `{"sys":120,"dia":80,"unit":0,"status":0}` {
		t.Fatalf("BP JSON without optional fields %s", b)
	}
}
