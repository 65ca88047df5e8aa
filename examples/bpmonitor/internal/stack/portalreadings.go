package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/iomt/fhir"
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/telemetry/store"
)

// storeReadings adapts the readings store (no PHI) to the portal. The
// portal asks for readings only after the silo released the patient to the
// session in the same request; the FHIR export, a request of its own, reads
// the patient through the silo first so the export is access-checked and
// audited.
type storeReadings struct {
	st  store.Store
	phi *PHI
}

var (
	_ portal.Readings     = (*storeReadings)(nil)
	_ portal.FHIRExporter = (*storeReadings)(nil)
)

// maxExport bounds one FHIR export (fhir.MaxBundleEntries observations,
// each reading yielding up to two).
const maxExport = fhir.MaxBundleEntries / 2

func (a *storeReadings) load(ctx context.Context, id iomt.PatientID, from, to time.Time, limit int) ([]store.Reading, error) {
	return a.st.ByPatient(ctx, id, store.Range{From: from, To: to.Add(time.Microsecond), Kind: iomt.KindBloodPressure, Limit: limit})
}

func (a *storeReadings) Readings(ctx context.Context, _ portal.Session, id iomt.PatientID, from, to time.Time) ([]portal.Reading, error) {
	rows, err := a.load(ctx, id, from, to, store.MaxLimit)
	if err != nil {
		return nil, err
	}
	out := make([]portal.Reading, 0, len(rows))
	for _, r := range rows {
		var bp iomt.BloodPressure
		if err := json.Unmarshal(r.Data, &bp); err != nil {
			return nil, fmt.Errorf("stored reading %d: %w", r.Seq, err)
		}
		bp.MeasuredAt = r.Time
		out = append(out, portal.Reading{Device: r.DeviceID, Seq: r.Seq, BloodPressure: bp})
	}
	return out, nil
}

func (a *storeReadings) ExportFHIR(ctx context.Context, s portal.Session, id iomt.PatientID, from, to time.Time) ([]byte, error) {
	if _, err := a.phi.Silo.Get(ctx, principal(s), phisilo.PatientID(id)); err != nil {
		return nil, mapErr(err)
	}
	rows, err := a.load(ctx, id, from, to, maxExport)
	if err != nil {
		return nil, err
	}
	recs := make([]fhir.Record, 0, len(rows))
	for _, r := range rows {
		var bp iomt.BloodPressure
		if err := json.Unmarshal(r.Data, &bp); err != nil {
			return nil, fmt.Errorf("stored reading %d: %w", r.Seq, err)
		}
		bp.MeasuredAt = r.Time
		recs = append(recs, fhir.Record{Device: r.DeviceID, Patient: id, Seq: r.Seq, Reading: bp})
	}
	b, err := fhir.NewBundle(fhir.Collection, recs)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(b, "", "  ")
}
