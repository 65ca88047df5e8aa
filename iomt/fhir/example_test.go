package fhir_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/iomt/fhir"
)

// A cloud backend exports one stored blood-pressure reading as a FHIR
// transaction: the panel and the pulse rate, each a PUT of a deterministic id.
func ExampleNewBundle() {
	rec := fhir.Record{
		Device:  iomt.MustParseDeviceID("0f8fad5b-d9cb-469f-a165-70867728950e"),
		Patient: iomt.MustParsePatientID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
		Seq:     42,
		Reading: iomt.BloodPressure{
			Systolic: 120, Diastolic: 80, MeanArterial: 93, Pulse: 72,
			MeasuredAt: time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC),
		},
	}
	b, err := fhir.NewBundle(fhir.Transaction, []fhir.Record{rec})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range b.Entry {
		o := e.Resource
		fmt.Println(e.Request.Method, e.Request.URL)
		fmt.Println(" ", o.Code.Coding[0].Code, o.Subject.Reference, o.EffectiveDateTime)
		for _, c := range o.Component {
			fmt.Println("   ", c.Code.Coding[0].Code, c.ValueQuantity.Value, c.ValueQuantity.Code)
		}
		if q := o.ValueQuantity; q != nil {
			fmt.Println("   ", q.Value, q.Code)
		}
	}
	if _, err := json.Marshal(b); err != nil {
		fmt.Println(err)
	}
	// Output:
	// PUT Observation/82a4c30a-7dd1-554d-b7ae-24f7c988a310
	//   85354-9 Patient/7c9e6679-7425-40de-944b-e07fc1f90ae7 2026-01-01T08:30:00Z
	//     8480-6 120 mm[Hg]
	//     8462-4 80 mm[Hg]
	//     8478-0 93 mm[Hg]
	// PUT Observation/f504ebc2-f062-5197-ac35-08718b786687
	//   8867-4 Patient/7c9e6679-7425-40de-944b-e07fc1f90ae7 2026-01-01T08:30:00Z
	//     72 /min
}

func ExampleObservationID() {
	dev := iomt.MustParseDeviceID("0f8fad5b-d9cb-469f-a165-70867728950e")
	fmt.Println(fhir.ObservationID(dev, 42, "bp"))
	// Output: 82a4c30a-7dd1-554d-b7ae-24f7c988a310
}
