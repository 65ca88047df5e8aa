package phisilo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

type grantState string

const (
	gsNone      grantState = "no-grant"
	gsActive    grantState = "active-grant"
	gsExpired   grantState = "expired-grant"
	gsRevoked   grantState = "revoked-grant"
	gsFuture    grantState = "future-grant"
	gsWrongRole grantState = "grant-for-other-role"
)

type actor string

const (
	aOwnPatient   actor = "patient(own)"
	aOtherPatient actor = "patient(other)"
	aClinician    actor = "clinician"
	aCaregiver    actor = "caregiver"
	aSupport      actor = "support"
	aAdmin        actor = "admin"
)

var purposeOf = map[actor]phisilo.Purpose{
	aOwnPatient: phisilo.PurposePatientRequest, aOtherPatient: phisilo.PurposePatientRequest,
	aClinician: phisilo.PurposeTreatment, aCaregiver: phisilo.PurposeCaregiving,
	aSupport: phisilo.PurposeOperations, aAdmin: phisilo.PurposeSystemAdmin,
}

var roleOf = map[actor]phisilo.Role{
	aOwnPatient: phisilo.RolePatient, aOtherPatient: phisilo.RolePatient, aClinician: phisilo.RoleClinician,
	aCaregiver: phisilo.RoleCaregiver, aSupport: phisilo.RoleSupport, aAdmin: phisilo.RoleAdmin,
}

// expectAllowed restates the policy of the package doc independently of
// the implementation.
func expectAllowed(a actor, action phisilo.Action, g grantState) bool {
	switch action {
	case phisilo.ActionRead:
		return a == aOwnPatient || (a == aClinician || a == aCaregiver) && g == gsActive
	case phisilo.ActionUpdate, phisilo.ActionDelete, phisilo.ActionGrant, phisilo.ActionRevoke, phisilo.ActionListGrants:
		return a == aOwnPatient
	case phisilo.ActionReadDeidentified:
		return a == aSupport
	case phisilo.ActionBreakGlass:
		return a == aClinician
	case phisilo.ActionQueryAudit:
		return a == aOwnPatient || a == aAdmin
	case phisilo.ActionManageAccounts:
		return a == aAdmin
	}
	return false
}

// TestAccessControlMatrix runs every role × action × grant state and checks
// the decision and that exactly one audit event with the right outcome was
// appended for it.
func TestAccessControlMatrix(t *testing.T) {
	actors := []actor{aOwnPatient, aOtherPatient, aClinician, aCaregiver, aSupport, aAdmin}
	actions := []phisilo.Action{phisilo.ActionRead, phisilo.ActionUpdate, phisilo.ActionDelete, phisilo.ActionGrant,
		phisilo.ActionRevoke, phisilo.ActionListGrants, phisilo.ActionReadDeidentified, phisilo.ActionBreakGlass,
		phisilo.ActionQueryAudit, phisilo.ActionManageAccounts}
	states := []grantState{gsNone, gsActive, gsExpired, gsRevoked, gsFuture, gsWrongRole}
	ctx := context.Background()
	for _, a := range actors {
		for _, action := range actions {
			for _, gs := range states {
				t.Run(fmt.Sprintf("%s/%s/%s", a, action, gs), func(t *testing.T) {
					t.Parallel()
					e := newEnv(t)
					id, own := e.register(t)
					other, _ := e.register(t)
					p := phisilo.Principal{UserID: "user-" + string(a), Role: roleOf[a], Purpose: purposeOf[a]}
					switch a {
					case aOwnPatient:
						p = own
					case aOtherPatient:
						p.Patient = other
					}
					if action == phisilo.ActionBreakGlass && a == aClinician {
						p.Purpose = phisilo.PurposeEmergency
					}
					grantID := "0123456789abcdef0123456789abcdef"
					if gs != gsNone {
						role := p.Role
						if role != phisilo.RoleClinician && role != phisilo.RoleCaregiver || gs == gsWrongRole {
							role = phisilo.RoleCaregiver
							if p.Role == phisilo.RoleCaregiver {
								role = phisilo.RoleClinician
							}
						}
						req := phisilo.GrantRequest{Grantee: p.UserID, GranteeRole: role, Sections: []phisilo.Section{phisilo.SectionContact}, Duration: time.Hour}
						if gs == gsFuture {
							req.NotBefore = e.clock.Now().Add(30 * time.Minute)
						}
						g, err := e.silo.CreateGrant(ctx, own, id, req)
						if err != nil {
							t.Fatal(err)
						}
						grantID = g.ID
						switch gs {
						case gsExpired:
							e.clock.Advance(2 * time.Hour)
						case gsRevoked:
							if err := e.silo.RevokeGrant(ctx, own, id, g.ID); err != nil {
								t.Fatal(err)
							}
						}
					}
					before, _ := e.lastEvent(t)
					var err error
					switch action {
					case phisilo.ActionRead:
						var rec phisilo.Record
						rec, err = e.silo.Get(ctx, p, id)
						if err == nil && a != aOwnPatient && rec.Name.Given != "" {
							t.Errorf("grant scoped to contact returned the name")
						}
					case phisilo.ActionUpdate:
						err = e.silo.Update(ctx, p, id, phisilo.Record{Name: phisilo.Name{Given: "New"}})
					case phisilo.ActionDelete:
						err = e.silo.Delete(ctx, p, id)
					case phisilo.ActionGrant:
						_, err = e.silo.CreateGrant(ctx, p, id, phisilo.GrantRequest{Grantee: "dr-x", GranteeRole: phisilo.RoleClinician, Sections: []phisilo.Section{phisilo.SectionAddress}, Duration: time.Hour})
					case phisilo.ActionRevoke:
						err = e.silo.RevokeGrant(ctx, p, id, grantID)
					case phisilo.ActionListGrants:
						_, err = e.silo.Grants(ctx, p, id)
					case phisilo.ActionReadDeidentified:
						_, err = e.silo.Deidentified(ctx, p, id)
					case phisilo.ActionBreakGlass:
						_, err = e.silo.BreakGlass(ctx, p, id, "unconscious in ER, no grant on file")
					case phisilo.ActionQueryAudit:
						_, err = e.silo.AuditLog(ctx, p, phisilo.AuditQuery{Patient: id})
					case phisilo.ActionManageAccounts:
						err = e.silo.CreateAccount(ctx, p, phisilo.NewAccount{UserID: "new-user", Role: phisilo.RoleClinician, Password: "a long enough password"})
					}
					want := expectAllowed(a, action, gs)
					if got := !errors.Is(err, phisilo.ErrDenied); got != want {
						t.Fatalf("allowed = %v (err %v), want %v", got, err, want)
					}
					if want && err != nil && !(action == phisilo.ActionRevoke && gs == gsNone) {
						t.Fatalf("allowed action failed: %v", err)
					}
					after, ev := e.lastEvent(t)
					if after != before+1 {
						t.Fatalf("%d audit events appended, want 1", after-before)
					}
					if ev.Action != action || ev.UserID != p.UserID || ev.Role != p.Role {
						t.Fatalf("audit event = %+v", ev)
					}
					wantOutcome := phisilo.OutcomeDenied
					if want {
						wantOutcome = phisilo.OutcomeSuccess
						if err != nil {
							wantOutcome = phisilo.OutcomeFailure
						}
					}
					if ev.Outcome != wantOutcome {
						t.Fatalf("audit outcome %q, want %q", ev.Outcome, wantOutcome)
					}
					if action == phisilo.ActionBreakGlass && want && (!ev.Alert || ev.Justification == "") {
						t.Fatalf("break-glass not recorded as an alert with its reason")
					}
					if _, err := e.silo.VerifyAudit(ctx); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

func TestBreakGlassRequiresReasonAndEmergencyPurpose(t *testing.T) {
	e := newEnv(t)
	id, _ := e.register(t)
	ctx := context.Background()
	dr := phisilo.Principal{UserID: "dr", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeEmergency}
	if _, err := e.silo.BreakGlass(ctx, dr, id, ""); !errors.Is(err, phisilo.ErrDenied) {
		t.Fatalf("empty reason: %v", err)
	}
	dr.Purpose = phisilo.PurposeTreatment
	if _, err := e.silo.BreakGlass(ctx, dr, id, "cardiac arrest in ward 3"); !errors.Is(err, phisilo.ErrDenied) {
		t.Fatalf("treatment purpose: %v", err)
	}
	dr.Purpose = phisilo.PurposeEmergency
	rec, err := e.silo.BreakGlass(ctx, dr, id, "cardiac arrest in ward 3")
	if err != nil || rec.Name.Given != markers[0] {
		t.Fatalf("break-glass: %v", err)
	}
}

func TestImpersonationWithForgedPrincipalIsDeniedAndAudited(t *testing.T) {
	e := newEnv(t)
	id, _ := e.register(t)
	ctx := context.Background()
	for _, p := range []phisilo.Principal{
		{UserID: "", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id},
		{UserID: "x", Role: "superuser", Purpose: phisilo.PurposeTreatment},
		{UserID: "x", Role: phisilo.RoleClinician, Purpose: "BECAUSE"},
		{UserID: "x", Role: phisilo.RoleAdmin, Purpose: phisilo.PurposeTreatment},
		{UserID: "x\n", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id},
	} {
		before, _ := e.lastEvent(t)
		if _, err := e.silo.Get(ctx, p, id); !errors.Is(err, phisilo.ErrDenied) {
			t.Fatalf("principal %+v: %v, want ErrDenied", p.LogValue(), err)
		}
		after, ev := e.lastEvent(t)
		if after != before+1 || ev.Outcome != phisilo.OutcomeDenied {
			t.Fatalf("denial not audited")
		}
	}
}

func TestGrantScopesSectionsAndExpires(t *testing.T) {
	e := newEnv(t)
	id, own := e.register(t)
	ctx := context.Background()
	_, err := e.silo.CreateGrant(ctx, own, id, phisilo.GrantRequest{Grantee: "dr", GranteeRole: phisilo.RoleClinician,
		Sections: []phisilo.Section{phisilo.SectionPhysician, phisilo.SectionDemographics}, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	dr := phisilo.Principal{UserID: "dr", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeTreatment}
	rec, err := e.silo.Get(ctx, dr, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Name.Given != markers[0] || rec.Physician.Name == "" || rec.Contact.Email != "" || len(rec.Address.Lines) != 0 {
		t.Fatalf("grant scope not applied")
	}
	e.clock.Advance(time.Hour)
	if _, err := e.silo.Get(ctx, dr, id); !errors.Is(err, phisilo.ErrDenied) {
		t.Fatalf("expired grant: %v", err)
	}
}
