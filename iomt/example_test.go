package iomt_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Identifiers parse only in their canonical form.
func ExampleParsePatientID() {
	id, err := iomt.ParsePatientID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
	fmt.Println(id, err)
	_, err = iomt.ParsePatientID("7C9E6679-7425-40DE-944B-E07FC1F90AE7")
	fmt.Println(errors.Is(err, iomt.ErrInvalidID))
	// Output:
	// 7c9e6679-7425-40de-944b-e07fc1f90ae7 <nil>
	// true
}

// Tests and simulators inject randomness to get reproducible identifiers;
// production code passes nil for crypto/rand.
func ExampleNewDeviceID() {
	id, err := iomt.NewDeviceID(strings.NewReader("0123456789abcdef"))
	fmt.Println(id, err)
	// Output: 30313233-3435-4637-b839-616263646566 <nil>
}

// A version 7 identifier starts with its creation time in milliseconds, so
// registries that index by identifier stay in time order.
func ExampleNewDeviceIDV7() {
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	id, err := iomt.NewDeviceIDV7(now, strings.NewReader("0123456789abcdef"))
	fmt.Println(id, err)
	// Output: 019b76da-a800-7637-b839-616263646566 <nil>
}

func ExampleBloodPressure_Validate() {
	bp := iomt.BloodPressure{Systolic: 80, Diastolic: 120, MeasuredAt: time.Now()}
	err := bp.Validate()
	var ve *iomt.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Field, errors.Is(err, iomt.ErrInconsistent))
	}
	fmt.Println(err)
	// Output:
	// sys true
	// iomt: blood_pressure.sys: inconsistent values (systolic above diastolic)
}

func ExampleBloodPressure_In() {
	bp := iomt.BloodPressure{Systolic: 120, Diastolic: 80, Unit: iomt.MmHg}
	k := bp.In(iomt.KPa)
	fmt.Printf("%.2f/%.2f %v\n", k.Systolic, k.Diastolic, k.Unit)
	// Output: 16.00/10.67 kPa
}

// The JSON form is numbers only; the time travels in the telemetry envelope.
func ExampleBloodPressure_json() {
	bp := iomt.BloodPressure{Systolic: 120, Diastolic: 80, MeanArterial: 93, Pulse: 72,
		Status: iomt.StatusIrregularPulse}
	b, _ := json.Marshal(bp)
	fmt.Println(string(b))
	// Output: {"sys":120,"dia":80,"map":93,"unit":0,"pulse":72,"status":4}
}

func ExampleGlucose_In() {
	g := iomt.Glucose{Concentration: 5.5, Unit: iomt.MmolPerL}
	fmt.Printf("%.1f %v\n", g.In(iomt.MgPerDL).Concentration, iomt.MgPerDL)
	// Output: 99.1 mg/dL
}
