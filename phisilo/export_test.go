package phisilo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openiomt/sdk/phisilo"
)

func TestExportFormats(t *testing.T) {
	e := newEnv(t)
	id, _ := e.register(t)
	ctx := context.Background()
	dr := phisilo.Principal{UserID: "dr|evil=1\nCEF:0|forged", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeEmergency, Source: "10.0.0.7"}
	if _, err := e.silo.BreakGlass(ctx, dr, id, "patient unresponsive; no grant"); err == nil {
		t.Fatal("principal with a newline accepted")
	}
	dr.UserID = "dr|evil=1"
	if _, err := e.silo.BreakGlass(ctx, dr, id, "patient unresponsive; no grant"); err != nil {
		t.Fatal(err)
	}
	recs, err := e.silo.AuditLog(ctx, admin, phisilo.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if !last.Event.Alert || last.Event.Action != phisilo.ActionBreakGlass {
		t.Fatalf("last event is not the break-glass alert")
	}

	cef := last.CEF()
	if !strings.HasPrefix(cef, "CEF:0|openiomt|phisilo|1|break-glass|PHI break-glass success|9|") {
		t.Fatalf("CEF header: %s", cef)
	}
	if !strings.Contains(cef, `suser=dr|evil\=1`) || !strings.Contains(cef, "duid="+id.String()) || strings.Contains(cef, "\n") {
		t.Fatalf("CEF extension escaping: %s", cef)
	}

	f := last.FHIR()
	b, _ := json.Marshal(f)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["resourceType"] != "AuditEvent" || m["action"] != "R" || m["outcome"] != "0" {
		t.Fatalf("FHIR AuditEvent: %s", b)
	}
	if !strings.Contains(string(b), `"code":"ETREAT"`) || !strings.Contains(string(b), id.String()) || !strings.Contains(string(b), `"code":"110110"`) {
		t.Fatalf("FHIR AuditEvent fields: %s", b)
	}

	for _, format := range []phisilo.ExportFormat{phisilo.ExportJSONL, phisilo.ExportFHIR, phisilo.ExportCEF} {
		var buf bytes.Buffer
		if err := phisilo.ExportAudit(&buf, format, recs); err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(buf.Bytes(), []byte("\n")); n != len(recs) {
			t.Fatalf("%s: %d lines for %d records", format, n, len(recs))
		}
		if format != phisilo.ExportCEF {
			for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
				if !json.Valid(line) {
					t.Fatalf("%s: invalid JSON line", format)
				}
			}
		}
	}
	if _, err := phisilo.ParseExportFormat("xml"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestDeidentifiedViewRemovesIdentifiers(t *testing.T) {
	e := newEnv(t)
	id, _ := e.register(t)
	sup := phisilo.Principal{UserID: "sup", Role: phisilo.RoleSupport, Purpose: phisilo.PurposeOperations}
	d, err := e.silo.Deidentified(context.Background(), sup, id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	for _, m := range append(markers, "Springfield", "62704", "Dr Who", "Rose", "555-0100", "07-04") {
		if strings.Contains(string(b), m) {
			t.Fatalf("identifier survives de-identification")
		}
	}
	if d.BirthYear != 1950 || d.ZIP3 != "627" || d.State != "IL" || !d.HasPhysician {
		t.Fatalf("generalised fields wrong: %s", b)
	}
	old := phisilo.Deidentify(id, phisilo.Record{BirthDate: "1920-01-01", Address: phisilo.Address{PostalCode: "03601", Country: "US"}}, e.clock.Now())
	if old.BirthYear != 0 || !old.AgeOver89 || old.ZIP3 != "000" {
		t.Fatalf("age over 89 or small ZIP3 not generalised: %+v", old)
	}
}

func TestSessionsExpire(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, err := e.silo.Register(ctx, selfReg, markerRecord(), &phisilo.Credentials{UserID: "pat", Password: "long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.silo.Login(ctx, phisilo.Credentials{UserID: "pat", Password: "long enough password"}, phisilo.PurposeSystemAdmin, ""); err == nil {
		t.Fatal("patient logged in for system administration")
	}
	tok, p, err := e.silo.Login(ctx, phisilo.Credentials{UserID: "pat", Password: "long enough password"}, phisilo.PurposePatientRequest, "")
	if err != nil || p.Patient != id {
		t.Fatalf("login: %v", err)
	}
	e.clock.Advance(16 * 60 * 1e9)
	if _, err := e.silo.Session(ctx, tok, ""); err == nil {
		t.Fatal("idle session still valid")
	}
	if err := e.silo.SetAccountDisabled(ctx, admin, "pat", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.silo.Login(ctx, phisilo.Credentials{UserID: "pat", Password: "long enough password"}, phisilo.PurposePatientRequest, ""); err == nil {
		t.Fatal("disabled account logged in")
	}
	if err := e.silo.DeleteAccount(ctx, admin, "pat"); err != nil {
		t.Fatal(err)
	}
	if err := e.silo.DeleteAccount(ctx, admin, "pat"); err == nil {
		t.Fatal("deleted an account twice")
	}
}

func TestChangePasswordAndListAccounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, err := e.silo.Register(ctx, selfReg, markerRecord(), &phisilo.Credentials{UserID: "pat", Password: "first password 1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.silo.CreateAccount(ctx, admin, phisilo.NewAccount{UserID: "dr", Role: phisilo.RoleClinician, Password: "doctor password"}); err != nil {
		t.Fatal(err)
	}
	pat := phisilo.Principal{UserID: "pat", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
	if err := e.silo.ChangePassword(ctx, pat, "pat", "wrong old password", "second password 2"); !errors.Is(err, phisilo.ErrUnauthenticated) {
		t.Fatalf("wrong old password: %v", err)
	}
	if err := e.silo.ChangePassword(ctx, pat, "dr", "doctor password", "hijacked password"); !errors.Is(err, phisilo.ErrDenied) {
		t.Fatalf("patient changing the doctor's password: %v", err)
	}
	if err := e.silo.ChangePassword(ctx, pat, "pat", "first password 1", "second password 2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.silo.Login(ctx, phisilo.Credentials{UserID: "pat", Password: "first password 1"}, phisilo.PurposePatientRequest, ""); err == nil {
		t.Fatal("old password still works")
	}
	if err := e.silo.ChangePassword(ctx, admin, "pat", "", "third password 3"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.silo.Login(ctx, phisilo.Credentials{UserID: "pat", Password: "third password 3"}, phisilo.PurposePatientRequest, ""); err != nil {
		t.Fatalf("admin reset: %v", err)
	}
	list, err := e.silo.Accounts(ctx, admin, "", 10)
	if err != nil || len(list) != 2 || list[0].UserID != "dr" || list[1].Patient != id {
		t.Fatalf("Accounts = %+v, %v", list, err)
	}
	if _, err := e.silo.Accounts(ctx, pat, "", 10); !errors.Is(err, phisilo.ErrDenied) {
		t.Fatalf("patient listing accounts: %v", err)
	}
	if _, err := e.silo.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
