package stack

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/telemetry/store"
)

func openTestPHI(t *testing.T) *PHI {
	t.Helper()
	phi, err := OpenPHI(context.Background(), PHIConfig{Dir: t.TempDir(), IdleTimeout: time.Minute, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = phi.Close() })
	return phi
}

// TestPortalAdapterEnforcesSiloPolicy drives the portal adapters over a real
// SQLite silo: a clinician without a grant is refused (and audited), the
// patient shares, the clinician then sees the record, revocation ends it, and
// the admin sees the audit trail with a verified chain.
func TestPortalAdapterEnforcesSiloPolicy(t *testing.T) {
	ctx := context.Background()
	phi := openTestPHI(t)
	dir := t.TempDir()
	accts, err := SeedStaff(ctx, phi, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := SeedStaff(ctx, phi, dir, nil)
	if err != nil || again[1].Password != accts[1].Password {
		t.Fatalf("seeding is not idempotent: %v", err)
	}
	self := phisilo.Principal{UserID: "self-registration", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	pid, err := phi.Silo.Register(ctx, self, phisilo.Record{Name: phisilo.Name{Given: "Alex", Family: "Testperson"}, BirthDate: "1957-04-12"},
		&phisilo.Credentials{UserID: "alex", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	id := iomt.PatientID(pid)
	a := &siloPortal{phi: phi}

	pw := map[string]string{}
	for _, ac := range accts {
		pw[ac.UserID] = ac.Password
	}
	if _, err := a.Login(ctx, "dr.lee", "wrong password!", "TREAT", "127.0.0.1"); !errors.Is(err, portal.ErrBadCredentials) {
		t.Fatalf("bad password: %v", err)
	}
	dr, err := a.Login(ctx, "dr.lee", pw["dr.lee"], "TREAT", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Patient(ctx, dr, id); !errors.Is(err, portal.ErrForbidden) {
		t.Fatalf("clinician without grant: %v", err)
	}
	listed := func(s portal.Session) bool {
		t.Helper()
		list, err := a.ListPatients(ctx, s)
		if err != nil {
			t.Fatalf("list patients as %s: %v", s.UserID, err)
		}
		return slices.ContainsFunc(list, func(p portal.PatientSummary) bool { return p.ID == id })
	}
	if listed(dr) {
		t.Fatal("the patient list shows a clinician a patient who has not shared with them")
	}
	alex, err := a.Login(ctx, "alex", "correct horse battery", "PATRQT", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	own, err := a.Patient(ctx, alex, id)
	if err != nil || !own.CanShare || own.DisplayName != "Alex Testperson" {
		t.Fatalf("own record: %+v %v", own, err)
	}
	sh, err := a.CreateShare(ctx, alex, id, portal.ShareRequest{Grantee: "dr.lee", Role: portal.RoleClinician, Scope: "readings", For: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	seen, err := a.Patient(ctx, dr, id)
	if err != nil || seen.DisplayName != "Alex Testperson" || seen.CanShare {
		t.Fatalf("clinician under grant: %+v %v", seen, err)
	}
	if !listed(dr) || !listed(alex) {
		t.Fatal("the patient list leaves out the clinician's shared patient or the patient's own record")
	}
	if _, err := a.CreateShare(ctx, dr, id, portal.ShareRequest{Grantee: "jordan", Role: portal.RoleCaregiver, Scope: "readings", For: time.Hour}); !errors.Is(err, portal.ErrForbidden) {
		t.Fatalf("clinician creating a share: %v", err)
	}
	if err := a.RevokeShare(ctx, alex, id, sh.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Patient(ctx, dr, id); !errors.Is(err, portal.ErrForbidden) {
		t.Fatalf("after revocation: %v", err)
	}
	if listed(dr) {
		t.Fatal("the patient list still shows a revoked share")
	}
	admin, err := a.Login(ctx, "admin", pw["admin"], "HSYSADMIN", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Patient(ctx, admin, id); !errors.Is(err, portal.ErrForbidden) {
		t.Fatalf("admin reading clinical content: %v", err)
	}
	if _, err := a.ListPatients(ctx, admin); !errors.Is(err, portal.ErrForbidden) {
		t.Fatalf("admin listing patients: %v", err)
	}
	page, err := a.Audit(ctx, admin, 100)
	if err != nil || !page.ChainOK {
		t.Fatalf("audit: %+v %v", page.ChainDetail, err)
	}
	var reads, denied, grants, revokes int
	for _, e := range page.Entries {
		switch {
		case e.Action == "read" && e.Outcome == "success" && e.Actor == "dr.lee":
			reads++
		case e.Action == "read" && e.Outcome != "success":
			denied++
		case e.Action == "grant" && e.Outcome == "success":
			grants++
		case e.Action == "revoke":
			revokes++
		}
	}
	if reads != 1 || denied < 3 || grants != 1 || revokes != 1 {
		t.Fatalf("audit entries: reads %d denied %d grants %d revokes %d", reads, denied, grants, revokes)
	}
	if _, err := a.Audit(ctx, dr, 10); !errors.Is(err, portal.ErrForbidden) {
		t.Fatalf("clinician reading the audit log: %v", err)
	}
	if err := a.Logout(ctx, dr.Token, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, dr.Token, ""); !errors.Is(err, portal.ErrNoSession) {
		t.Fatalf("session after logout: %v", err)
	}
}

func TestReadingsAdapterAndFHIRExport(t *testing.T) {
	ctx := context.Background()
	phi := openTestPHI(t)
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "readings.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	self := phisilo.Principal{UserID: "self-registration", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	pid, err := phi.Silo.Register(ctx, self, phisilo.Record{Name: phisilo.Name{Given: "Sam"}}, &phisilo.Credentials{UserID: "sam", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := iomt.NewDeviceID(nil)
	now := time.Now().UTC().Truncate(time.Second)
	var rows []store.Reading
	for i := 0; i < 5; i++ {
		data, _ := json.Marshal(iomt.BloodPressure{Systolic: 120 + float64(i), Diastolic: 80, Pulse: 70})
		rows = append(rows, store.Reading{DeviceID: dev, Seq: uint64(i + 1), PatientID: iomt.PatientID(pid), Time: now.Add(-time.Duration(5-i) * time.Hour), Kind: "blood_pressure", Data: data})
	}
	if _, err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	a := &siloPortal{phi: phi}
	r := &storeReadings{st: st, phi: phi}
	sam, err := a.Login(ctx, "sam", "correct horse battery", "PATRQT", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Readings(ctx, sam, iomt.PatientID(pid), now.Add(-24*time.Hour), now)
	if err != nil || len(got) != 5 || got[4].Systolic != 124 || !got[4].MeasuredAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("readings: %+v %v", got, err)
	}
	doc, err := r.ExportFHIR(ctx, sam, iomt.PatientID(pid), now.Add(-24*time.Hour), now)
	if err != nil || !strings.Contains(string(doc), "85354-9") || strings.Contains(string(doc), "Sam") {
		t.Fatalf("FHIR export: %v\n%s", err, doc)
	}
	other := sam
	other.Patient = iomt.PatientID{1} // a patient session for someone else
	other.UserID = "mallory"
	if _, err := r.ExportFHIR(ctx, other, iomt.PatientID(pid), now.Add(-time.Hour), now); err == nil {
		t.Fatal("export for another patient allowed")
	}
}
