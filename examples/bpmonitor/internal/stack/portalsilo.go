package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/phisilo"
)

// Purposes offered at portal login: the HL7 PurposeOfUse codes phisilo uses.
func Purposes() []portal.Purpose {
	return []portal.Purpose{
		{Code: string(phisilo.PurposeTreatment), Label: "Treatment"},
		{Code: string(phisilo.PurposePatientRequest), Label: "My own record (patient)"},
		{Code: string(phisilo.PurposeCaregiving), Label: "Caregiving (family)"},
		{Code: string(phisilo.PurposeOperations), Label: "Support operations"},
		{Code: string(phisilo.PurposeSystemAdmin), Label: "System administration"},
		{Code: string(phisilo.PurposeEmergency), Label: "Emergency (break-glass)"},
	}
}

// siloPortal adapts the PHI silo to the portal's Auth, Patients, Shares and
// AuditLog. Every PHI access goes through phisilo, which enforces the
// policy and audits it; this type only translates.
type siloPortal struct {
	phi *PHI
	now func() time.Time
}

var (
	_ portal.Auth     = (*siloPortal)(nil)
	_ portal.Patients = (*siloPortal)(nil)
	_ portal.Shares   = (*siloPortal)(nil)
	_ portal.AuditLog = (*siloPortal)(nil)
)

// mapErr turns phisilo errors into the portal's vocabulary.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, phisilo.ErrUnauthenticated):
		return fmt.Errorf("%w: %w", portal.ErrNoSession, err)
	case errors.Is(err, phisilo.ErrDenied):
		return fmt.Errorf("%w: %w", portal.ErrForbidden, err)
	case errors.Is(err, phisilo.ErrNotFound):
		return fmt.Errorf("%w: %w", portal.ErrNotFound, err)
	case errors.Is(err, phisilo.ErrInvalid), errors.Is(err, phisilo.ErrTooLarge), errors.Is(err, phisilo.ErrExists):
		return fmt.Errorf("%w: %w", portal.ErrInvalid, err)
	}
	return err
}

func (a *siloPortal) session(token string, pr phisilo.Principal) portal.Session {
	return portal.Session{
		Token: token, UserID: pr.UserID, DisplayName: pr.UserID, Role: portal.Role(pr.Role),
		IdleTimeout: a.phi.idle, Patient: iomt.PatientID(pr.Patient), Purpose: string(pr.Purpose), Source: pr.Source,
	}
}

// principal rebuilds the silo principal of a session the silo validated.
func principal(s portal.Session) phisilo.Principal {
	return phisilo.Principal{UserID: s.UserID, Role: phisilo.Role(s.Role), Purpose: phisilo.Purpose(s.Purpose),
		Patient: phisilo.PatientID(s.Patient), Source: s.Source}
}

func (a *siloPortal) Login(ctx context.Context, user, pass, purpose, source string) (portal.Session, error) {
	tok, pr, err := a.phi.Silo.Login(ctx, phisilo.Credentials{UserID: user, Password: pass}, phisilo.Purpose(purpose), source)
	if errors.Is(err, phisilo.ErrUnauthenticated) {
		return portal.Session{}, fmt.Errorf("%w: %w", portal.ErrBadCredentials, err)
	}
	if err != nil {
		return portal.Session{}, err
	}
	return a.session(tok, pr), nil
}

func (a *siloPortal) Session(ctx context.Context, token, source string) (portal.Session, error) {
	pr, err := a.phi.Silo.Session(ctx, token, source)
	if err != nil {
		return portal.Session{}, mapErr(err)
	}
	return a.session(token, pr), nil
}

func (a *siloPortal) Logout(ctx context.Context, token, _ string) error {
	return mapErr(a.phi.Silo.Logout(ctx, token))
}

// ListPatients asks the silo which patients the user may open
// (phisilo.Silo.Patients: own record, active grants, de-identified for
// support; audited). Names are not shown here: they come only from the
// audited read of one patient's page.
func (a *siloPortal) ListPatients(ctx context.Context, s portal.Session) ([]portal.PatientSummary, error) {
	var out []portal.PatientSummary
	q := phisilo.PatientQuery{Limit: phisilo.MaxPatientQuery}
	for {
		refs, err := a.phi.Silo.Patients(ctx, principal(s), q)
		if err != nil {
			return nil, mapErr(err)
		}
		for _, r := range refs {
			id := iomt.PatientID(r.Patient)
			name := "Patient " + id.String()[:8]
			access := "de-identified view"
			switch r.Access {
			case phisilo.AccessOwn:
				name, access = "My record", "own record"
			case phisilo.AccessGrant:
				access = "shared with you"
				if !r.Expires.IsZero() {
					access += " until " + r.Expires.In(time.Local).Format("2006-01-02 15:04")
				}
			}
			out = append(out, portal.PatientSummary{ID: id, DisplayName: name, Access: access})
		}
		if len(refs) < q.Limit {
			return out, nil
		}
		q.After = refs[len(refs)-1].Patient
	}
}

func (a *siloPortal) Patient(ctx context.Context, s portal.Session, id iomt.PatientID) (portal.Patient, error) {
	p := principal(s)
	pid := phisilo.PatientID(id)
	if s.Role == portal.RoleSupport {
		d, err := a.phi.Silo.Deidentified(ctx, p, pid)
		if err != nil {
			return portal.Patient{}, mapErr(err)
		}
		f := []portal.Field{{Label: "View", Value: "de-identified (HIPAA Safe Harbor)"}}
		if d.BirthYear != 0 {
			f = append(f, portal.Field{Label: "Birth year", Value: fmt.Sprint(d.BirthYear)})
		}
		if d.AgeOver89 {
			f = append(f, portal.Field{Label: "Age", Value: "over 89"})
		}
		if d.State != "" || d.ZIP3 != "" {
			f = append(f, portal.Field{Label: "Region", Value: strings.TrimSpace(d.State + " " + d.ZIP3 + "xx")})
		}
		return portal.Patient{ID: id, DisplayName: "Patient " + id.String()[:8], Fields: f}, nil
	}
	rec, err := a.phi.Silo.Get(ctx, p, pid)
	if err != nil {
		return portal.Patient{}, mapErr(err)
	}
	name := strings.TrimSpace(rec.Name.Given + " " + rec.Name.Family)
	if name == "" {
		name = "Patient " + id.String()[:8]
	}
	var f []portal.Field
	add := func(label, v string) {
		if strings.TrimSpace(v) != "" {
			f = append(f, portal.Field{Label: label, Value: v})
		}
	}
	add("Born", rec.BirthDate)
	add("Phone", rec.Contact.Phone)
	add("E-mail", rec.Contact.Email)
	add("Address", strings.Join(slices.DeleteFunc(append(append([]string{}, rec.Address.Lines...), rec.Address.City, rec.Address.State, rec.Address.PostalCode, rec.Address.Country), func(s string) bool { return s == "" }), ", "))
	add("Physician", strings.TrimSpace(rec.Physician.Name+" "+rec.Physician.Phone))
	add("Emergency contact", strings.TrimSpace(rec.EmergencyContact.Name+" ("+rec.EmergencyContact.Relationship+") "+rec.EmergencyContact.Phone))
	if rec.Consent.Treatment || rec.Consent.DataSharing || rec.Consent.Research {
		var c []string
		if rec.Consent.Treatment {
			c = append(c, "treatment")
		}
		if rec.Consent.DataSharing {
			c = append(c, "data sharing")
		}
		if rec.Consent.Research {
			c = append(c, "research")
		}
		add("Consent", strings.Join(c, ", "))
	}
	own := s.Role == portal.RolePatient && s.Patient == id
	return portal.Patient{ID: id, DisplayName: name, Fields: f, CanShare: own}, nil
}

// Share scopes: what a grantee may see of the record. Readings are always
// visible to an active grantee; the record sections vary.
func sectionsFor(scope string) []phisilo.Section {
	if scope == "readings+record" {
		return append([]phisilo.Section{}, phisilo.AllSections()...)
	}
	return []phisilo.Section{phisilo.SectionDemographics}
}

func scopeOf(secs []phisilo.Section) string {
	if len(secs) >= len(phisilo.AllSections()) {
		return "readings+record"
	}
	return "readings"
}

func share(g phisilo.Grant) portal.Share {
	return portal.Share{ID: g.ID, Grantee: g.Grantee, Role: portal.Role(g.GranteeRole), Scope: scopeOf(g.Sections),
		Created: g.Created, Expires: g.Expires, Revoked: g.Revoked}
}

func (a *siloPortal) Shares(ctx context.Context, s portal.Session, id iomt.PatientID) ([]portal.Share, error) {
	gs, err := a.phi.Silo.Grants(ctx, principal(s), phisilo.PatientID(id))
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]portal.Share, 0, len(gs))
	for _, g := range gs {
		out = append(out, share(g))
	}
	slices.SortFunc(out, func(x, y portal.Share) int { return y.Created.Compare(x.Created) })
	return out, nil
}

func (a *siloPortal) CreateShare(ctx context.Context, s portal.Session, id iomt.PatientID, r portal.ShareRequest) (portal.Share, error) {
	g, err := a.phi.Silo.CreateGrant(ctx, principal(s), phisilo.PatientID(id), phisilo.GrantRequest{
		Grantee: r.Grantee, GranteeRole: phisilo.Role(r.Role), Sections: sectionsFor(r.Scope), Duration: r.For,
	})
	if err != nil {
		return portal.Share{}, mapErr(err)
	}
	return share(g), nil
}

func (a *siloPortal) RevokeShare(ctx context.Context, s portal.Session, id iomt.PatientID, shareID string) error {
	return mapErr(a.phi.Silo.RevokeGrant(ctx, principal(s), phisilo.PatientID(id), shareID))
}

func (a *siloPortal) Audit(ctx context.Context, s portal.Session, limit int) (portal.AuditPage, error) {
	n, verr := a.phi.Silo.VerifyAudit(ctx)
	page := portal.AuditPage{ChainOK: verr == nil}
	if verr == nil {
		page.ChainDetail = fmt.Sprintf("%d entries verified against the hash chain and the signed checkpoints", n)
	} else {
		var ve *phisilo.AuditVerifyError
		if errors.As(verr, &ve) {
			page.ChainDetail = fmt.Sprintf("first bad entry #%d (%s)", ve.Seq, ve.Reason)
		} else {
			page.ChainDetail = "verification could not run"
			return page, verr
		}
	}
	var after uint64
	if n > uint64(limit) {
		after = n - uint64(limit)
	}
	recs, err := a.phi.Silo.AuditLog(ctx, principal(s), phisilo.AuditQuery{After: after, Limit: min(limit, phisilo.MaxAuditQuery)})
	if err != nil {
		return page, mapErr(err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		e := recs[i].Event
		page.Entries = append(page.Entries, portal.AuditEntry{Seq: recs[i].Seq, Time: e.Time, Actor: e.UserID, Role: string(e.Role),
			Action: string(e.Action), Patient: e.Patient, Outcome: string(e.Outcome), Purpose: string(e.Purpose), Source: e.Source})
	}
	return page, nil
}
