package telemetry

import (
	"reflect"
	"strings"
	"testing"

	"github.com/openiomt/sdk/iomt"
)

func TestDetectPHI(t *testing.T) {
	for s, want := range map[string]PHIShape{
		"jane.doe@example.com":            PHIEmail,
		"contact: j_doe+bp@mail.co.uk ok": PHIEmail,
		"078-05-1120":                     PHISSN,
		"078 05 1120":                     PHISSN,
		"+1 (555) 010-4477":               PHIPhone,
		"555-010-4477":                    PHIPhone,
		"00441632960961":                  PHIPhone,
		"1961-04-12":                      PHIDate,
		"04/12/1961":                      PHIDate,
		"12.04.61":                        PHIDate,
		"John Smith":                      PHIName,
		"Mary-Jane O'Neil":                PHIName,
		"Smith, John":                     PHIName,
		"José Álvarez":                    PHIName,
		"JANE DOE":                        PHIName,
		strings.Repeat("x", maxPHIScan+1): PHIName,

		"":                                     PHINone,
		"blood_pressure":                       PHINone,
		"6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70": PHINone,
		"12345678-1234-4234-8234-123456789012": PHINone,
		"ES256":                                PHINone,
		"iomt-telemetry+jws":                   PHINone,
		"120":                                  PHINone,
		"v1.2.3":                               PHINone,
		"user@localhost":                       PHINone,
		"Smith":                                PHINone,
		"john smith":                           PHINone,
	} {
		if got := DetectPHI(s); got != want {
			t.Errorf("DetectPHI(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestDataFieldsMatchReadingTypes keeps the closed data schema in step with
// the iomt reading types' JSON tags.
func TestDataFieldsMatchReadingTypes(t *testing.T) {
	for _, k := range iomt.Kinds() {
		r, err := iomt.NewReading(k)
		if err != nil {
			t.Fatal(err)
		}
		var tags []string
		typ := reflect.TypeOf(r).Elem()
		for i := 0; i < typ.NumField(); i++ {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if tag != "" && tag != "-" {
				tags = append(tags, tag)
			}
			switch typ.Field(i).Type.Kind() {
			case reflect.String, reflect.Slice, reflect.Map, reflect.Struct, reflect.Interface, reflect.Pointer:
				if tag != "-" {
					t.Errorf("%s.%s is not numeric: the PHI guard would reject it", k, typ.Field(i).Name)
				}
			}
		}
		if !reflect.DeepEqual(tags, dataFields(k)) {
			t.Errorf("%s: dataFields %v, struct tags %v", k, dataFields(k), tags)
		}
	}
}

func TestSignerRefusesPHIAndInvalidReadings(t *testing.T) {
	f := newFixture(t, EdDSA)
	if _, err := f.signer.Sign(t.Context(), iomt.BloodPressure{Systolic: 500, Diastolic: 80, MeasuredAt: testNow}); !errorsIs(err, ErrInvalidReading) {
		t.Fatalf("invalid reading: %v", err)
	}
	if _, err := f.signer.Sign(t.Context(), nil); !errorsIs(err, ErrInvalidReading) {
		t.Fatalf("nil reading: %v", err)
	}
	if _, err := f.signer.Sign(t.Context(), chattyReading{testBP(testNow)}); !errorsIs(err, ErrPHI) {
		t.Fatalf("reading with a string member: %v", err)
	}
	// Refused readings consume no sequence numbers.
	if env := f.sign(t, testBP(testNow)); env.Payload.Seq != 1 {
		t.Fatalf("seq %d after refusals, want 1", env.Payload.Seq)
	}
}

// chattyReading is a reading type a careless integrator might write: it
// carries a free-text note.
type chattyReading struct{ iomt.BloodPressure }

func (c chattyReading) MarshalJSON() ([]byte, error) {
	return []byte(`{"sys":120,"dia":80,"note":"Patient Jane Doe"}`), nil
}

func TestSignerNilReadingsDoNotPanic(t *testing.T) {
	f := newFixture(t, EdDSA)
	for _, r := range []iomt.Reading{nil, (*iomt.BloodPressure)(nil), (*iomt.HeartRate)(nil), (*iomt.Glucose)(nil)} {
		if _, err := f.signer.Sign(t.Context(), r); !errorsIs(err, ErrInvalidReading) {
			t.Fatalf("%T: %v", r, err)
		}
		if _, err := SignPayload(f.key, &Payload{Device: testDev, Patient: testPat, Seq: 1, Time: testNow, Kind: iomt.KindHeartRate, Reading: r}, nil); !errorsIs(err, ErrInvalidReading) {
			t.Fatalf("SignPayload %T: %v", r, err)
		}
	}
	if _, err := SignPayload(f.key, nil, nil); !errorsIs(err, ErrInvalidReading) {
		t.Fatal(err)
	}
	if _, err := (&Payload{Kind: iomt.KindHeartRate, Reading: (*iomt.HeartRate)(nil)}).MarshalJSON(); err == nil {
		t.Fatal("MarshalJSON of a nil reading succeeded")
	}
}
