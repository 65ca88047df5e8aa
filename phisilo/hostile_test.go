package phisilo_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

// TestOversizedInputsHitNamedLimits: every attacker-sized input is refused
// with a typed error naming its limit or field, and is audited.
func TestOversizedInputsHitNamedLimits(t *testing.T) {
	e := newEnv(t)
	id, own := e.register(t)
	ctx := context.Background()
	big := strings.Repeat("x", phisilo.MaxFieldBytes+1)
	ext := map[string]string{}
	for i := 0; i <= phisilo.MaxExtensions; i++ {
		ext["k"+strconv.Itoa(i)] = "v"
	}
	var le *phisilo.LimitError
	for name, rec := range map[string]phisilo.Record{
		"field":      {Name: phisilo.Name{Given: big}},
		"extensions": {Extensions: ext},
		"lines":      {Address: phisilo.Address{Lines: []string{"a", "b", "c", "d", "e"}}},
	} {
		err := e.silo.Update(ctx, own, id, rec)
		if !errors.As(err, &le) || !errors.Is(err, phisilo.ErrTooLarge) {
			t.Errorf("%s: %v, want LimitError", name, err)
		}
	}
	var fe *phisilo.FieldError
	for name, rec := range map[string]phisilo.Record{
		"control": {Name: phisilo.Name{Given: "a\x1b[31m"}},
		"utf8":    {Name: phisilo.Name{Family: "\xff\xfe"}},
		"date":    {BirthDate: "1950-13-40"},
		"extkey":  {Extensions: map[string]string{"Bad Key": "v"}},
	} {
		if err := e.silo.Update(ctx, own, id, rec); !errors.As(err, &fe) {
			t.Errorf("%s: %v, want FieldError", name, err)
		}
	}
	dr := phisilo.Principal{UserID: "dr", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeEmergency}
	if _, err := e.silo.BreakGlass(ctx, dr, id, strings.Repeat("r", 10000)); !errors.As(err, &fe) {
		t.Errorf("huge break-glass reason: %v", err)
	}
	if err := e.silo.RevokeGrant(ctx, own, id, strings.Repeat("g", 100000)); !errors.Is(err, phisilo.ErrNotFound) {
		t.Errorf("huge grant id: %v", err)
	}
	for _, d := range []time.Duration{0, time.Second, phisilo.MaxGrantDuration + time.Hour} {
		_, err := e.silo.CreateGrant(ctx, own, id, phisilo.GrantRequest{Grantee: "dr", GranteeRole: phisilo.RoleClinician, Sections: []phisilo.Section{phisilo.SectionContact}, Duration: d})
		if !errors.As(err, &fe) {
			t.Errorf("grant duration %v: %v", d, err)
		}
	}
	if _, err := e.silo.AuditLog(ctx, admin, phisilo.AuditQuery{Limit: phisilo.MaxAuditQuery + 1}); !errors.As(err, &le) {
		t.Errorf("huge audit page: %v", err)
	}
	if _, _, err := e.silo.Login(ctx, phisilo.Credentials{UserID: "u", Password: strings.Repeat("p", phisilo.MaxPasswordBytes+1)}, phisilo.PurposePatientRequest, ""); !errors.Is(err, phisilo.ErrUnauthenticated) {
		t.Errorf("huge password: %v", err)
	}
	if _, err := e.silo.Session(ctx, strings.Repeat("t", phisilo.MaxTokenBytes+1), ""); !errors.Is(err, phisilo.ErrUnauthenticated) {
		t.Errorf("huge token: %v", err)
	}
	if _, err := e.silo.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestGrantsPerPatientLimit(t *testing.T) {
	e := newEnv(t)
	id, own := e.register(t)
	ctx := context.Background()
	req := phisilo.GrantRequest{Grantee: "dr", GranteeRole: phisilo.RoleClinician, Sections: []phisilo.Section{phisilo.SectionContact}, Duration: time.Hour}
	for i := 0; i < phisilo.MaxGrantsPerPatient; i++ {
		if _, err := e.silo.CreateGrant(ctx, own, id, req); err != nil {
			t.Fatal(err)
		}
	}
	var le *phisilo.LimitError
	if _, err := e.silo.CreateGrant(ctx, own, id, req); !errors.As(err, &le) || le.Limit != "MaxGrantsPerPatient" {
		t.Fatalf("grant past the limit: %v", err)
	}
}
