package phisilo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

// TestPatientsListsOnlyWhatEachRoleMayOpen: the listing follows the same
// policy as Get (active, unexpired, unrevoked grants to that user and
// role), admins get nothing, and every listing is audited.
func TestPatientsListsOnlyWhatEachRoleMayOpen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, pa := e.register(t)
	b, pb := e.register(t)
	c, _ := e.register(t)
	dr := phisilo.Principal{UserID: "dr-house", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeTreatment}
	care := phisilo.Principal{UserID: "dr-house", Role: phisilo.RoleCaregiver, Purpose: phisilo.PurposeCaregiving}
	grant := func(p phisilo.Principal, id phisilo.PatientID, who phisilo.Principal, d time.Duration) phisilo.Grant {
		g, err := e.silo.CreateGrant(ctx, p, id, phisilo.GrantRequest{Grantee: who.UserID, GranteeRole: who.Role,
			Sections: []phisilo.Section{phisilo.SectionContact}, Duration: d})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	ga := grant(pa, a, dr, time.Hour)
	gb := grant(pb, b, dr, 2*time.Minute)
	grant(pb, b, care, time.Hour) // same user ID, other role: not the clinician's

	list := func(p phisilo.Principal) []phisilo.PatientRef {
		t.Helper()
		n0, _ := e.lastEvent(t)
		refs, err := e.silo.Patients(ctx, p, phisilo.PatientQuery{})
		n1, ev := e.lastEvent(t)
		if n1 != n0+1 || ev.Action != phisilo.ActionListPatients || ev.UserID != p.UserID {
			t.Fatalf("listing by %s not audited", p.Role)
		}
		if err != nil {
			if !errors.Is(err, phisilo.ErrDenied) || ev.Outcome != phisilo.OutcomeDenied {
				t.Fatalf("listing by %s: %v (outcome %s)", p.Role, err, ev.Outcome)
			}
			return nil
		}
		return refs
	}
	ids := func(refs []phisilo.PatientRef) string {
		var s []string
		for _, r := range refs {
			s = append(s, r.Patient.String()+"/"+string(r.Access))
		}
		return strings.Join(s, ",")
	}
	sorted := func(refs ...phisilo.PatientRef) string {
		for i := range refs {
			for j := i + 1; j < len(refs); j++ {
				if strings.Compare(string(refs[j].Patient[:]), string(refs[i].Patient[:])) < 0 {
					refs[i], refs[j] = refs[j], refs[i]
				}
			}
		}
		return ids(refs)
	}

	if got := list(pa); ids(got) != a.String()+"/own" {
		t.Fatalf("patient lists %q, want only their own record", ids(got))
	}
	got := list(dr)
	if want := sorted(phisilo.PatientRef{Patient: a, Access: phisilo.AccessGrant}, phisilo.PatientRef{Patient: b, Access: phisilo.AccessGrant}); ids(got) != want {
		t.Fatalf("clinician lists %q, want %q", ids(got), want)
	}
	for _, r := range got {
		if (r.Patient == a && r.GrantID != ga.ID) || (r.Patient == b && r.GrantID != gb.ID) || len(r.Sections) != 1 {
			t.Fatalf("clinician listing carries the wrong grant")
		}
	}
	if got := list(care); ids(got) != b.String()+"/grant" {
		t.Fatalf("caregiver lists %q, want only b", ids(got))
	}
	// Expiry and revocation take patients off the list.
	e.clock.Advance(3 * time.Minute)
	if got := list(dr); ids(got) != a.String()+"/grant" {
		t.Fatalf("after b's grant expired the clinician lists %q", ids(got))
	}
	if err := e.silo.RevokeGrant(ctx, pa, a, ga.ID); err != nil {
		t.Fatal(err)
	}
	if got := list(dr); len(got) != 0 {
		t.Fatalf("after revocation the clinician lists %q", ids(got))
	}
	sup := phisilo.Principal{UserID: "helpdesk", Role: phisilo.RoleSupport, Purpose: phisilo.PurposeOperations}
	if got := list(sup); len(got) != 3 || got[0].Access != phisilo.AccessDeidentified {
		t.Fatalf("support lists %q, want the 3 patients de-identified", ids(got))
	}
	_ = c
	admin := phisilo.Principal{UserID: "root", Role: phisilo.RoleAdmin, Purpose: phisilo.PurposeSystemAdmin}
	if got := list(admin); got != nil {
		t.Fatalf("admin lists patients")
	}
	if _, err := e.silo.Patients(ctx, dr, phisilo.PatientQuery{Limit: phisilo.MaxPatientQuery + 1}); !errors.Is(err, phisilo.ErrTooLarge) {
		t.Fatalf("oversized page: %v", err)
	}
	if _, err := e.silo.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
