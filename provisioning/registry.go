package provisioning

import (
	"context"
	"crypto"
	"log/slog"
	"math/big"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// DeviceStatus is a device's place in its life cycle.
type DeviceStatus string

// Device statuses. A device moves provisioned → active (enrolment, and
// again on every certificate rotation) → revoked and/or decommissioned.
// Revoked and decommissioned are terminal: such a device never enrols,
// connects or publishes again.
const (
	// StatusProvisioned: registered at the factory, not yet enrolled.
	StatusProvisioned DeviceStatus = "provisioned"
	// StatusActive: enrolled, holding a current certificate.
	StatusActive DeviceStatus = "active"
	// StatusRevoked: its key or certificate is no longer trusted.
	StatusRevoked DeviceStatus = "revoked"
	// StatusDecommissioned: retired; the patient binding is removed.
	StatusDecommissioned DeviceStatus = "decommissioned"
)

// Valid reports whether s is a defined status.
func (s DeviceStatus) Valid() bool {
	switch s {
	case StatusProvisioned, StatusActive, StatusRevoked, StatusDecommissioned:
		return true
	}
	return false
}

// Device is a registry record.
type Device struct {
	// ID is the device UUID.
	ID iomt.DeviceID
	// Status is the life-cycle status.
	Status DeviceStatus
	// Patient is the bound patient; zero when unbound.
	Patient iomt.PatientID
	// PublicKey is the device key from its current certificate (ECDSA
	// P-256 or Ed25519); nil before enrolment. Telemetry envelopes verify
	// under it.
	PublicKey crypto.PublicKey
	// CertSerial is the serial number of the current certificate; nil
	// before enrolment. Only this certificate is in good standing.
	CertSerial *big.Int
	// CertNotAfter is the current certificate's expiry.
	CertNotAfter time.Time
	// PairingKey is the public pairing key registered at the factory
	// (ECDSA P-256); nil when none was registered.
	PairingKey crypto.PublicKey
	// CreatedAt and UpdatedAt are set by the registry.
	CreatedAt, UpdatedAt time.Time
}

// LogValue implements slog.LogValuer without the patient binding.
func (d Device) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device", d.ID.String()), slog.String("status", string(d.Status)))
}

// Enrollment is what a successful enrolment or re-enrolment records.
type Enrollment struct {
	// Device enrolled.
	Device iomt.DeviceID
	// Patient from the enrolment token; zero keeps the current binding
	// (re-enrolment).
	Patient iomt.PatientID
	// PublicKey is the device key certified.
	PublicKey crypto.PublicKey
	// CertSerial and CertNotAfter describe the new certificate, which
	// replaces the previous one.
	CertSerial   *big.Int
	CertNotAfter time.Time
}

// Registry is the device registry: device ID → status, key, current
// certificate and patient binding. The cloud consults it on enrolment, on
// every TLS handshake (as a [RevocationChecker]) and on every telemetry
// envelope (as a key resolver), so revoking a device stops it everywhere.
// It also records consumed enrolment tokens (as a [TokenLedger]).
//
// Implementations: provisioning/registry/memory, .../sqlite and
// .../postgres, all checked by provisioning/registry/registrytest.
// Implementations are safe for concurrent use.
type Registry interface {
	RevocationChecker
	TokenLedger
	// Register adds a device in StatusProvisioned, with an optional
	// pairing key (nil for none). A known device fails with
	// [ErrAlreadyExists].
	Register(ctx context.Context, device iomt.DeviceID, pairingKey crypto.PublicKey) error
	// Lookup returns the device's record or an error wrapping
	// [ErrUnknownDevice].
	Lookup(ctx context.Context, device iomt.DeviceID) (Device, error)
	// Activate records an enrolment: status becomes active and the new
	// certificate current. A revoked or decommissioned device fails with
	// [ErrRevoked], an unknown one with [ErrUnknownDevice].
	Activate(ctx context.Context, e Enrollment) error
	// Revoke marks the device revoked (idempotent). A decommissioned
	// device fails with [ErrInvalidTransition].
	Revoke(ctx context.Context, device iomt.DeviceID) error
	// Decommission retires the device and removes its patient binding
	// (idempotent).
	Decommission(ctx context.Context, device iomt.DeviceID) error
	// RevokedSerials returns the serial numbers of every unexpired
	// certificate no longer in good standing: all certificates of revoked
	// or decommissioned devices, and those superseded by re-enrolment.
	// Feed them to [CA.CreateCRL] for brokers that consult a CRL.
	RevokedSerials(ctx context.Context) ([]*big.Int, error)
}

// CheckDeviceCertificate implements the [RevocationChecker] rule shared by
// the registries: the device must be active and serial its current
// certificate's.
func CheckDeviceCertificate(d Device, serial *big.Int) error {
	if d.Status != StatusActive || d.CertSerial == nil || serial == nil || d.CertSerial.Cmp(serial) != 0 {
		return newErr("registry", "certificate", ErrRevoked)
	}
	return nil
}

// ValidateEnrollment checks the fields of e every registry requires.
func ValidateEnrollment(e Enrollment) error {
	const op = "registry"
	if e.Device.IsZero() {
		return newErr(op, "device", iomt.ErrInvalidID)
	}
	if err := checkDeviceKey(e.PublicKey); err != nil {
		return newErr(op, "public key", err)
	}
	if e.CertSerial == nil || e.CertSerial.Sign() <= 0 || e.CertNotAfter.IsZero() {
		return newErr(op, "certificate", ErrMalformed)
	}
	return nil
}

// RegistryError returns the error registry implementations report:
// sentinel wrapped in an [*Error] naming field.
func RegistryError(field string, sentinel error) error { return newErr("registry", field, sentinel) }

// Limits of [ListOptions.Limit].
const (
	// DefaultListLimit is the page size when ListOptions.Limit is zero.
	DefaultListLimit = 100
	// MaxListLimit is the largest page a [DeviceLister] returns; larger
	// limits are reduced to it.
	MaxListLimit = 1000
)

// ListOptions selects one page of a device listing. The zero value lists
// the first DefaultListLimit devices of any status and patient.
type ListOptions struct {
	// After is the cursor: only devices whose ID sorts after it are
	// listed. Zero starts at the beginning; pass the ID of the last device
	// of a page to get the next page.
	After iomt.DeviceID
	// Limit is the page size: zero means DefaultListLimit, values above
	// MaxListLimit mean MaxListLimit, negative values are refused with
	// [ErrMalformed].
	Limit int
	// Patient, when not zero, lists only the devices bound to that
	// patient.
	Patient iomt.PatientID
	// Status, when not empty, lists only devices in that status; an
	// undefined status is refused with [ErrMalformed].
	Status DeviceStatus
}

// Normalize validates o and returns it with the limit defaulted and
// clamped, as every [DeviceLister] applies it.
func (o ListOptions) Normalize() (ListOptions, error) {
	if o.Limit < 0 {
		return o, newErr("registry list", "limit", ErrMalformed)
	}
	if o.Status != "" && !o.Status.Valid() {
		return o, newErr("registry list", "status", ErrMalformed)
	}
	if o.Limit == 0 {
		o.Limit = DefaultListLimit
	}
	o.Limit = min(o.Limit, MaxListLimit)
	return o, nil
}

// DeviceLister is the optional listing capability of a device registry,
// for fleet views and reports. It is a separate interface rather than a
// method of [Registry] so that registries written before it, and consumers
// that only enrol and check devices, are unaffected; every registry of
// this SDK (memory, sqlite, postgres) implements it, and
// provisioning/registry/registrytest checks any registry that does.
//
// Listing is keyset-paginated in ascending order of the device UUID's
// canonical string: following the cursor never lists a device twice, even
// while devices are being registered, and the SQL registries answer each
// page from the primary-key index, whatever its depth. Records are as
// [Registry.Lookup] returns them.
type DeviceLister interface {
	// List returns up to opts.Limit devices after opts.After matching
	// the filters, in ascending ID order. An empty page means the end.
	// Invalid options fail with an error wrapping [ErrMalformed].
	List(ctx context.Context, opts ListOptions) ([]Device, error)
}
