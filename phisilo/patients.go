package phisilo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Access says how a principal may open a patient listed by
// [Silo.Patients].
type Access string

// Accesses.
const (
	AccessOwn          Access = "own"          // the patient's own record: Get
	AccessGrant        Access = "grant"        // an active sharing grant: Get (granted sections)
	AccessDeidentified Access = "deidentified" // support staff: Deidentified only
)

// PatientRef is one patient a principal may open. It carries no PHI: the
// patient ID is a random pseudonym.
type PatientRef struct {
	Patient  PatientID `json:"patient"`
	Access   Access    `json:"access"`
	GrantID  string    `json:"grant_id,omitempty"` // AccessGrant
	Sections []Section `json:"sections,omitempty"` // AccessGrant
	Expires  time.Time `json:"expires,omitzero"`   // AccessGrant
}

// PatientQuery pages through [Silo.Patients].
type PatientQuery struct {
	After PatientID // patients with a greater ID (byte order)
	Limit int       // 1..MaxPatientQuery; zero means 100
}

// MaxPatientQuery bounds one page of [Silo.Patients].
const MaxPatientQuery = 1000

// Patients lists the patients p may open, in patient ID order: for a
// patient, their own record; for a clinician or caregiver, the patients
// who gave them (by user ID and role) a grant that is active now, with the
// grant's sections and expiry; for support, every patient of the tenant,
// to be opened only through [Silo.Deidentified]. Admins are denied: they
// manage accounts, not clinical content. The listing is audited like any
// access (action "list-patients", Target "patients=N").
func (s *Silo) Patients(ctx context.Context, p Principal, q PatientQuery) ([]PatientRef, error) {
	if err := s.check(p, ActionListPatients); err != nil {
		return nil, s.denyInvalid(ctx, ActionListPatients, PatientID{}, err)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	o := s.newOp(p, ActionListPatients, PatientID{})
	if q.Limit < 0 || q.Limit > MaxPatientQuery {
		return nil, s.run(ctx, o, func(Tx) error { return &LimitError{Limit: "MaxPatientQuery", Max: MaxPatientQuery} })
	}
	var out []PatientRef
	err := s.run(ctx, o, func(tx Tx) error {
		out = nil
		if _, err := s.authorize(ctx, tx, o, p, ActionListPatients, PatientID{}, ""); err != nil {
			return err
		}
		switch p.Role {
		case RolePatient:
			if bytes.Compare(p.Patient[:], q.After[:]) > 0 {
				if _, err := tx.Key(ctx, s.cfg.Tenant, p.Patient); err == nil {
					out = append(out, PatientRef{Patient: p.Patient, Access: AccessOwn})
				} else if !errors.Is(err, ErrNotFound) {
					return err
				}
			}
		case RoleClinician, RoleCaregiver:
			gs, err := tx.GrantsTo(ctx, s.cfg.Tenant, p.UserID)
			if err != nil {
				return err
			}
			now := s.now()
			best := map[PatientID]Grant{}
			for _, g := range gs {
				if g.GranteeRole != p.Role || !g.Active(now) || bytes.Compare(g.Patient[:], q.After[:]) <= 0 {
					continue
				}
				if _, seen := best[g.Patient]; !seen {
					best[g.Patient] = g // ordered by ID, as Get's policy check picks
				}
			}
			for id, g := range best {
				out = append(out, PatientRef{Patient: id, Access: AccessGrant, GrantID: g.ID,
					Sections: slices.Clone(g.Sections), Expires: g.Expires})
			}
			slices.SortFunc(out, func(a, b PatientRef) int { return bytes.Compare(a.Patient[:], b.Patient[:]) })
			if len(out) > q.Limit {
				out = out[:q.Limit]
			}
		case RoleSupport:
			ids, err := tx.PatientIDs(ctx, s.cfg.Tenant, q.After, q.Limit)
			if err != nil {
				return err
			}
			for _, id := range ids {
				out = append(out, PatientRef{Patient: id, Access: AccessDeidentified})
			}
		}
		o.ev.Target = fmt.Sprintf("patients=%d", len(out))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
