package phisilo

import "time"

// decision is the policy's answer for an allowed action.
type decision struct {
	sections []Section // nil: the whole record
	grantID  string    // the grant that allowed it, if any
	alert    bool      // break-glass: raise an alert
}

// purposeOK lists the purposes of use each role may act under.
var purposeOK = map[Role][]Purpose{
	RolePatient:   {PurposePatientRequest, PurposeTreatment},
	RoleClinician: {PurposeTreatment, PurposeEmergency},
	RoleCaregiver: {PurposeCaregiving, PurposeTreatment},
	RoleSupport:   {PurposeOperations},
	RoleAdmin:     {PurposeSystemAdmin},
}

// decide is the access policy: a pure function of who, what, whose, which
// grants and when. Anything not explicitly allowed is denied.
func decide(p Principal, a Action, target PatientID, grants []Grant, reason string, now time.Time) (decision, *DeniedError) {
	deny := func(why string) (decision, *DeniedError) {
		return decision{}, &DeniedError{Action: a, Role: p.Role, Reason: why}
	}
	ok := false
	for _, pu := range purposeOK[p.Role] {
		ok = ok || pu == p.Purpose
	}
	if !ok {
		return deny("purpose-of-use")
	}
	own := p.Role == RolePatient && !p.Patient.IsZero() && p.Patient == target
	switch a {
	case ActionRegister:
		if p.Role == RolePatient || p.Role == RoleClinician {
			return decision{}, nil
		}
		return deny("role")
	case ActionRead:
		if own {
			return decision{}, nil
		}
		if p.Role == RoleClinician || p.Role == RoleCaregiver {
			for _, g := range grants {
				if g.Patient == target && g.Grantee == p.UserID && g.GranteeRole == p.Role && g.Active(now) {
					return decision{sections: append([]Section{}, g.Sections...), grantID: g.ID}, nil
				}
			}
			return deny("no-grant")
		}
		return deny("role")
	case ActionUpdate, ActionDelete, ActionGrant, ActionRevoke, ActionListGrants:
		if own {
			return decision{}, nil
		}
		if p.Role == RolePatient {
			return deny("not-own-record")
		}
		return deny("role")
	case ActionReadDeidentified:
		if p.Role == RoleSupport {
			return decision{}, nil
		}
		return deny("role")
	case ActionBreakGlass:
		if p.Role != RoleClinician {
			return deny("role")
		}
		if p.Purpose != PurposeEmergency {
			return deny("purpose-of-use")
		}
		if len(reason) < 10 {
			return deny("reason-required")
		}
		return decision{alert: true}, nil
	case ActionQueryAudit:
		if p.Role == RoleAdmin || own {
			return decision{}, nil
		}
		return deny("role")
	case ActionListPatients:
		// The listing itself is filtered: own record, active grants, or
		// (support) the de-identified population. Admins manage accounts,
		// not clinical content.
		switch {
		case p.Role == RolePatient && !p.Patient.IsZero(),
			p.Role == RoleClinician, p.Role == RoleCaregiver, p.Role == RoleSupport:
			return decision{}, nil
		}
		return deny("role")
	case ActionManageAccounts, ActionRewrap:
		if p.Role == RoleAdmin {
			return decision{}, nil
		}
		return deny("role")
	}
	return deny("unknown-action")
}
