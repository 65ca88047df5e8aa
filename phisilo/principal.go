package phisilo

import (
	"log/slog"
	"time"
)

// Role is what a principal is to the silo. The policy grants nothing to an
// unknown role.
type Role string

// Roles.
const (
	RolePatient   Role = "patient"   // reads and manages their own record
	RoleClinician Role = "clinician" // reads under a patient's grant; may break the glass
	RoleCaregiver Role = "caregiver" // reads under a patient's grant
	RoleSupport   Role = "support"   // de-identified view only
	RoleAdmin     Role = "admin"     // manages accounts and audits; no clinical content
)

var roles = [...]Role{RolePatient, RoleClinician, RoleCaregiver, RoleSupport, RoleAdmin}

// Roles returns every role (a new slice each call).
func Roles() []Role { return append([]Role(nil), roles[:]...) }

func (r Role) valid() bool {
	for _, v := range roles {
		if r == v {
			return true
		}
	}
	return false
}

// Purpose is the purpose of use, an HL7 v3 PurposeOfUse code.
type Purpose string

// Purposes of use.
const (
	PurposeTreatment      Purpose = "TREAT"     // treatment
	PurposeEmergency      Purpose = "ETREAT"    // emergency treatment (break-glass)
	PurposePatientRequest Purpose = "PATRQT"    // the patient's own request
	PurposeOperations     Purpose = "HOPERAT"   // healthcare operations (support)
	PurposeSystemAdmin    Purpose = "HSYSADMIN" // system administration
	PurposeCaregiving     Purpose = "FAMRQT"    // family/caregiver request
)

var purposes = [...]Purpose{PurposeTreatment, PurposeEmergency, PurposePatientRequest, PurposeOperations, PurposeSystemAdmin, PurposeCaregiving}

func (p Purpose) valid() bool {
	for _, v := range purposes {
		if p == v {
			return true
		}
	}
	return false
}

// Principal is who performs a call, for which purpose and from where. Every
// Silo method takes one; the policy and the audit trail both use it.
type Principal struct {
	UserID  string    // unique user ID (HIPAA 164.312(a)(2)(i)); 1..128 bytes
	Role    Role      // required
	Purpose Purpose   // required
	Patient PatientID // for RolePatient: the patient this user is
	Source  string    // network address or client name, for the audit trail; may be empty
}

// LogValue implements [slog.LogValuer]. It prints role and purpose only.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("role", string(p.Role)), slog.String("purpose", string(p.Purpose)))
}

func (p Principal) validate() error {
	if p.UserID == "" || len(p.UserID) > 128 {
		return &FieldError{Field: "principal.user_id", Reason: "required, at most 128 bytes"}
	}
	if err := checkText("principal.user_id", p.UserID); err != nil {
		return err
	}
	if len(p.Source) > 256 {
		return &FieldError{Field: "principal.source", Reason: "at most 256 bytes"}
	}
	if !p.Role.valid() {
		return &FieldError{Field: "principal.role", Reason: "unknown role"}
	}
	if !p.Purpose.valid() {
		return &FieldError{Field: "principal.purpose", Reason: "unknown purpose of use"}
	}
	if p.Role == RolePatient && p.Patient.IsZero() {
		return &FieldError{Field: "principal.patient", Reason: "required for patients"}
	}
	return nil
}

// Action is something a principal does to the silo; each one is audited.
type Action string

// Actions.
const (
	ActionRegister         Action = "register"
	ActionRead             Action = "read"
	ActionUpdate           Action = "update"
	ActionDelete           Action = "delete"
	ActionReadDeidentified Action = "read-deidentified"
	ActionGrant            Action = "grant"
	ActionRevoke           Action = "revoke"
	ActionListGrants       Action = "list-grants"
	ActionBreakGlass       Action = "break-glass"
	ActionQueryAudit       Action = "query-audit"
	ActionManageAccounts   Action = "manage-accounts"
	ActionLogin            Action = "login"
	ActionLogout           Action = "logout"
	ActionRewrap           Action = "rewrap"
	ActionListPatients     Action = "list-patients"
)

// Grant lets a clinician or caregiver see part of a patient's record, for a
// limited time, until revoked. Only the patient creates grants.
type Grant struct {
	ID          string    `json:"id"`
	Patient     PatientID `json:"patient"`
	Grantee     string    `json:"grantee"` // user ID
	GranteeRole Role      `json:"grantee_role"`
	Sections    []Section `json:"sections"`
	NotBefore   time.Time `json:"not_before"`
	Expires     time.Time `json:"expires"`
	Revoked     time.Time `json:"revoked,omitzero"`
	Created     time.Time `json:"created"`
}

// MaxGrantDuration bounds how long a grant may last.
const MaxGrantDuration = 366 * 24 * time.Hour

// MaxGrantsPerPatient bounds how many grants (active or not) a patient may hold.
const MaxGrantsPerPatient = 256

// Active reports whether g is in force at now.
func (g Grant) Active(now time.Time) bool {
	return g.Revoked.IsZero() && !now.Before(g.NotBefore) && now.Before(g.Expires)
}
