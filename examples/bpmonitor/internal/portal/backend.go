package portal

import (
	"context"
	"errors"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Errors a backend returns for the portal to map to a page. Backends wrap
// their own errors with these (errors.Is); anything else is a 500 page that
// shows no detail.
var (
	// ErrBadCredentials: login refused. The page does not say which part was wrong.
	ErrBadCredentials = errors.New("portal: bad credentials")
	// ErrLockedOut: too many failed logins for the account or source.
	ErrLockedOut = errors.New("portal: locked out")
	// ErrNoSession: the session is unknown, expired, idle too long or logged off.
	ErrNoSession = errors.New("portal: no valid session")
	// ErrForbidden: the user may not do this (also for PHI without a grant).
	ErrForbidden = errors.New("portal: forbidden")
	// ErrNotFound: no such patient, share or device.
	ErrNotFound = errors.New("portal: not found")
	// ErrInvalid: the submitted form is invalid; the page names the field.
	ErrInvalid = errors.New("portal: invalid input")
)

// Role is a user's role. The portal uses it only to choose what to show;
// the backends enforce access themselves.
type Role string

// Roles known to the portal.
const (
	RolePatient   Role = "patient"
	RoleClinician Role = "clinician"
	RoleCaregiver Role = "caregiver"
	RoleSupport   Role = "support"
	RoleAdmin     Role = "admin"
)

// Session is an authenticated portal session.
type Session struct {
	// Token is the opaque session secret held in the cookie.
	Token string
	// UserID and DisplayName identify the user (a staff or patient account).
	UserID, DisplayName string
	Role                Role
	// IdleTimeout is how long the session survives without a request; the
	// page logs itself off after that long without navigation.
	IdleTimeout time.Duration
	// Patient is set for patient accounts: the patient's own record.
	Patient iomt.PatientID
	// Purpose is the purpose of use chosen at login.
	Purpose string
	// Source is the client address of the current request; the portal sets
	// it on every request for the backends' audit trail.
	Source string
}

// Auth authenticates users and keeps their sessions.
type Auth interface {
	// Login checks credentials and opens a session for the stated purpose of
	// use (one of [Config.Purposes], or "" when none are configured); source
	// is the client address for rate limits and audit.
	Login(ctx context.Context, username, password, purpose, source string) (Session, error)
	// Session returns the session for token and renews its idle timer, or
	// ErrNoSession.
	Session(ctx context.Context, token, source string) (Session, error)
	// Logout ends the session.
	Logout(ctx context.Context, token, source string) error
}

// Purpose is a purpose of use the login form offers (HL7 PurposeOfUse
// codes such as TREAT or ETREAT), recorded with every access in the audit log.
type Purpose struct {
	Code, Label string
}

// PatientSummary is one row of the patient list.
type PatientSummary struct {
	ID          iomt.PatientID
	DisplayName string
	// Access says why the user may see this patient ("own record",
	// "shared until 2026-12-01", "break-glass").
	Access string
}

// Field is one labelled PHI value on the patient page.
type Field struct{ Label, Value string }

// Patient is the PHI view of one patient, as the silo released it to the
// user. Every read of it is audited by the backend.
type Patient struct {
	ID          iomt.PatientID
	DisplayName string
	Fields      []Field
	// CanShare reports whether the user may create and revoke sharing grants
	// for this patient.
	CanShare bool
}

// Reading is one stored blood-pressure reading.
type Reading struct {
	Device iomt.DeviceID
	Seq    uint64
	iomt.BloodPressure
}

// Share is a sharing grant: the patient lets a grantee see reports until
// Expires, unless revoked.
type Share struct {
	ID        string
	Grantee   string // user name of the doctor or family member
	Role      Role
	Scope     string // what may be seen, e.g. "readings", "readings+record"
	Created   time.Time
	Expires   time.Time
	Revoked   time.Time // zero while active
	CreatedBy string
}

// Active reports whether the share is in force at now.
func (s Share) Active(now time.Time) bool {
	return s.Revoked.IsZero() && now.Before(s.Expires)
}

// ShareRequest is the form for a new share.
type ShareRequest struct {
	Grantee string
	Role    Role
	Scope   string
	For     time.Duration
}

// Patients releases PHI to a session. Implementations enforce access control
// and audit every call, allowed or denied.
type Patients interface {
	ListPatients(ctx context.Context, s Session) ([]PatientSummary, error)
	Patient(ctx context.Context, s Session, id iomt.PatientID) (Patient, error)
}

// Readings returns a patient's readings between from and to, oldest first.
// The readings store holds no PHI; the portal asks only after [Patients]
// released the patient to the session.
type Readings interface {
	Readings(ctx context.Context, s Session, id iomt.PatientID, from, to time.Time) ([]Reading, error)
}

// FHIRExporter returns a patient's observations as a FHIR R4 Bundle (JSON).
type FHIRExporter interface {
	ExportFHIR(ctx context.Context, s Session, id iomt.PatientID, from, to time.Time) ([]byte, error)
}

// Shares manages sharing grants.
type Shares interface {
	Shares(ctx context.Context, s Session, id iomt.PatientID) ([]Share, error)
	CreateShare(ctx context.Context, s Session, id iomt.PatientID, r ShareRequest) (Share, error)
	RevokeShare(ctx context.Context, s Session, id iomt.PatientID, shareID string) error
}

// Device is one row of the fleet view. It holds no PHI.
type Device struct {
	ID       iomt.DeviceID
	Status   string // provisioned, active, revoked, decommissioned
	Firmware string
	LastSeen time.Time
	Serial   string // certificate serial
}

// Fleet lists devices and revokes them.
type Fleet interface {
	Devices(ctx context.Context, s Session) ([]Device, error)
	RevokeDevice(ctx context.Context, s Session, id iomt.DeviceID) error
}

// CampaignDevice is one device's state in an OTA campaign.
type CampaignDevice struct {
	Device  iomt.DeviceID
	State   string // pending, downloading, installed, committed, rolled back, refused, timed out
	Detail  string
	Updated time.Time
}

// Campaign is one staged OTA rollout.
type Campaign struct {
	Name, Version string
	// Percent is the staged-rollout cohort size, 0–100.
	Percent int
	Devices []CampaignDevice
}

// Campaigns lists OTA campaigns.
type Campaigns interface {
	Campaigns(ctx context.Context, s Session) ([]Campaign, error)
}

// AuditEntry is one audit event, as shown to an auditor.
type AuditEntry struct {
	Seq     uint64
	Time    time.Time
	Actor   string
	Role    string
	Action  string
	Patient string // patient UUID, if any
	Outcome string
	Purpose string
	Source  string
}

// AuditPage is the newest audit entries and the chain verification result.
type AuditPage struct {
	Entries []AuditEntry
	// ChainOK reports whether the whole hash chain verified; ChainDetail
	// says how far, or names the first bad entry.
	ChainOK     bool
	ChainDetail string
}

// AuditLog shows the audit log.
type AuditLog interface {
	Audit(ctx context.Context, s Session, limit int) (AuditPage, error)
}

// Component is one SBOM component.
type Component struct {
	Name, Version, PURL, License, Supplier, Support, EndOfSupport string
}

// SBOMView is the device firmware's SBOM.
type SBOMView struct {
	Subject, SpecVersion string
	Components           []Component
	// JSON is the CycloneDX document, offered for download.
	JSON []byte
}

// SBOMSource returns the device firmware's SBOM.
type SBOMSource interface {
	SBOM(ctx context.Context, s Session) (SBOMView, error)
}
