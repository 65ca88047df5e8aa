package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/openiomt/sdk/iomt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

var (
	testDevice  = iomt.MustParseDeviceID("0f8fad5b-d9cb-469f-a165-70867728950e")
	testPatient = iomt.MustParsePatientID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
	testTime    = time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC)
)

func bpRecord() Record {
	return Record{Device: testDevice, Patient: testPatient, Seq: 42, Reading: iomt.BloodPressure{
		Systolic: 120, Diastolic: 80, MeanArterial: 93, Unit: iomt.MmHg, Pulse: 72, MeasuredAt: testTime,
	}}
}

// golden compares v's indented JSON with testdata/name.golden.json, or
// rewrites the file under -update.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, got)
	}
}

func TestGoldenBloodPressure(t *testing.T) {
	obs, err := NewObservations(bpRecord())
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 2 {
		t.Fatalf("%d observations, want panel + heart rate", len(obs))
	}
	golden(t, "blood_pressure", obs)
}

func TestGoldenBloodPressureKPa(t *testing.T) {
	rec := Record{Device: testDevice, Patient: testPatient, Seq: 43, Reading: &iomt.BloodPressure{
		Systolic: 16.1, Diastolic: 10.7, Unit: iomt.KPa,
		MeasuredAt: time.Date(2026, 1, 2, 19, 5, 0, 0, time.FixedZone("", 3600)),
	}}
	obs, err := NewObservations(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 1 || len(obs[0].Component) != 2 {
		t.Fatalf("want one panel with two components, got %+v", obs)
	}
	if v := obs[0].Component[0].ValueQuantity.Value; v != 120.8 {
		t.Fatalf("16.1 kPa = %v mm[Hg], want 120.8", v)
	}
	golden(t, "blood_pressure_kpa", obs)
}

func TestGoldenHeartRate(t *testing.T) {
	obs, err := NewObservations(Record{Device: testDevice, Patient: testPatient, Seq: 7,
		Reading: iomt.HeartRate{BPM: 64, MeasuredAt: testTime}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "heart_rate", obs)
}

func TestGoldenGlucose(t *testing.T) {
	for _, c := range []struct {
		name string
		g    iomt.Glucose
		code string
	}{
		{"glucose_mg_dl", iomt.Glucose{Concentration: 95, Unit: iomt.MgPerDL, MeasuredAt: testTime}, "2339-0"},
		{"glucose_mmol_l", iomt.Glucose{Concentration: 5.3, Unit: iomt.MmolPerL, MeasuredAt: testTime}, "15074-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			obs, err := NewObservations(Record{Device: testDevice, Patient: testPatient, Seq: 9, Reading: c.g})
			if err != nil {
				t.Fatal(err)
			}
			if got := obs[0].Code.Coding[0].Code; got != c.code {
				t.Fatalf("code %s, want %s", got, c.code)
			}
			golden(t, c.name, obs)
		})
	}
}

func TestGoldenBundles(t *testing.T) {
	recs := []Record{bpRecord(), {Device: testDevice, Patient: testPatient, Seq: 43,
		Reading: iomt.Glucose{Concentration: 101, Unit: iomt.MgPerDL, MeasuredAt: testTime.Add(time.Hour)}}}
	for _, typ := range []BundleType{Collection, Transaction} {
		b, err := NewBundle(typ, recs)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Entry) != 3 {
			t.Fatalf("%d entries, want 3", len(b.Entry))
		}
		golden(t, "bundle_"+string(typ), b)
	}
}

// TestBloodPressureProfile checks the elements the FHIR vital-signs bp
// profile requires, independently of the golden file.
func TestBloodPressureProfile(t *testing.T) {
	obs, err := NewObservations(bpRecord())
	if err != nil {
		t.Fatal(err)
	}
	bp, hr := obs[0], obs[1]
	if bp.Meta == nil || bp.Meta.Profile[0] != BloodPressureProfile || bp.Code.Coding[0] != loinc("85354-9", "Blood pressure panel with all children optional") {
		t.Fatalf("panel code/profile wrong: %+v", bp)
	}
	if bp.Category[0].Coding[0].Code != "vital-signs" || bp.Category[0].Coding[0].System != CategorySystem {
		t.Fatal("category")
	}
	if bp.Subject.Reference != "Patient/"+testPatient.String() || bp.Device.Reference != "Device/"+testDevice.String() {
		t.Fatalf("references %+v %+v", bp.Subject, bp.Device)
	}
	if bp.EffectiveDateTime != "2026-01-01T08:30:00Z" || bp.Status != "final" || bp.ValueQuantity != nil {
		t.Fatalf("effective/status/value: %+v", bp)
	}
	want := map[string]float64{"8480-6": 120, "8462-4": 80, "8478-0": 93}
	for _, c := range bp.Component {
		q := c.ValueQuantity
		if q.System != UCUMSystem || q.Code != "mm[Hg]" {
			t.Fatalf("component unit %+v", q)
		}
		code := c.Code.Coding[0].Code
		if want[code] != q.Value {
			t.Fatalf("component %s = %v", code, q.Value)
		}
		delete(want, code)
	}
	if len(want) != 0 {
		t.Fatalf("missing components %v", want)
	}
	mean := bp.Component[2].Code.Coding[1]
	if mean.System != MDCSystem || mean.Code != "150023" || mean.Display != "MDC_PRESS_BLD_NONINV_MEAN" {
		t.Fatalf("MAP MDC coding %+v", mean)
	}
	if hr.Meta.Profile[0] != HeartRateProfile || hr.Code.Coding[0].Code != "8867-4" ||
		hr.ValueQuantity.Code != "/min" || hr.ValueQuantity.Value != 72 {
		t.Fatalf("heart rate %+v", hr)
	}
}

func TestObservationIDsDeterministic(t *testing.T) {
	a, _ := NewObservations(bpRecord())
	b, _ := NewObservations(bpRecord())
	if a[0].ID != b[0].ID || a[1].ID != b[1].ID || a[0].ID == a[1].ID {
		t.Fatalf("ids %s %s / %s %s", a[0].ID, a[1].ID, b[0].ID, b[1].ID)
	}
	other := bpRecord()
	other.Seq++
	c, _ := NewObservations(other)
	if c[0].ID == a[0].ID {
		t.Fatal("different seq, same id")
	}
	u, err := uuid.Parse(a[0].ID)
	if err != nil || u.Version() != 5 {
		t.Fatalf("id %s is not a v5 UUID", a[0].ID)
	}
	// The id does not depend on the patient: re-assigning a reading to the
	// right patient updates the same Observation.
	other = bpRecord()
	other.Patient = iomt.MustParsePatientID("9b2b6b7e-4a55-4a5b-8d3c-2b6f0d6f0a11")
	d, _ := NewObservations(other)
	if d[0].ID != a[0].ID {
		t.Fatal("id depends on the patient")
	}
}

func TestObservationNamespaceDerivation(t *testing.T) {
	got := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:openiomt:fhir:Observation")).String()
	if got != ObservationNamespace {
		t.Fatalf("namespace %s, documented derivation gives %s", ObservationNamespace, got)
	}
}

func TestNewObservationsRejects(t *testing.T) {
	cases := []struct {
		name     string
		rec      Record
		sentinel error
	}{
		{"no device", Record{Patient: testPatient, Reading: bpRecord().Reading}, ErrMissingID},
		{"no patient", Record{Device: testDevice, Reading: bpRecord().Reading}, ErrMissingID},
		{"nil reading", Record{Device: testDevice, Patient: testPatient}, ErrUnsupportedReading},
		{"nil pointer", Record{Device: testDevice, Patient: testPatient, Reading: (*iomt.HeartRate)(nil)}, ErrUnsupportedReading},
		{"no time", Record{Device: testDevice, Patient: testPatient, Reading: iomt.HeartRate{BPM: 60}}, iomt.ErrMissingTime},
		{"systolic below diastolic", Record{Device: testDevice, Patient: testPatient, Reading: iomt.BloodPressure{
			Systolic: 70, Diastolic: 80, MeasuredAt: testTime}}, iomt.ErrInconsistent},
		{"year beyond FHIR dateTime", Record{Device: testDevice, Patient: testPatient, Reading: iomt.HeartRate{
			BPM: 60, MeasuredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}, ErrInvalidReading},
		{"glucose NaN", Record{Device: testDevice, Patient: testPatient, Reading: &iomt.Glucose{
			Concentration: nan(), MeasuredAt: testTime}}, iomt.ErrNotFinite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obs, err := NewObservations(c.rec)
			if !errors.Is(err, c.sentinel) || obs != nil {
				t.Fatalf("err = %v, want %v", err, c.sentinel)
			}
			if errors.Is(c.sentinel, iomt.ErrMissingTime) || errors.Is(c.sentinel, iomt.ErrInconsistent) || errors.Is(c.sentinel, iomt.ErrNotFinite) {
				if !errors.Is(err, ErrInvalidReading) {
					t.Fatalf("err %v does not wrap ErrInvalidReading", err)
				}
			}
			if !strings.HasPrefix(err.Error(), "fhir: ") {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestNewBundleRejects(t *testing.T) {
	if _, err := NewBundle("batch", nil); !errors.Is(err, ErrBundleType) {
		t.Fatalf("batch: %v", err)
	}
	if _, err := NewBundle(Collection, make([]Record, MaxBundleEntries+1)); !errors.Is(err, ErrTooManyRecords) {
		t.Fatalf("oversize: %v", err)
	}
	bad := bpRecord()
	bad.Reading = iomt.BloodPressure{Systolic: 500, Diastolic: 80, MeasuredAt: testTime}
	_, err := NewBundle(Transaction, []Record{bpRecord(), bad})
	var re *RecordError
	if !errors.As(err, &re) || re.Index != 1 || !errors.Is(err, iomt.ErrOutOfRange) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "500") {
		t.Fatalf("error %q leaks the value", err)
	}
	b, err := NewBundle(Collection, nil)
	if err != nil || b.Entry == nil {
		t.Fatalf("empty bundle: %+v %v", b, err)
	}
}

func TestRecordLogValueRedacts(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("export", "record", bpRecord())
	log.Info("export", "record", Record{Reading: (*iomt.BloodPressure)(nil)})
	out := buf.String()
	if strings.Contains(out, testPatient.String()) || strings.Contains(out, "120") {
		t.Fatalf("log leaks patient or values: %s", out)
	}
	if !strings.Contains(out, testDevice.String()) || !strings.Contains(out, "blood_pressure") {
		t.Fatalf("log lacks device/kind: %s", out)
	}
}
