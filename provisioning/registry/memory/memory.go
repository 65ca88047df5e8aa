// Package memory is an in-memory [provisioning.Registry] for tests,
// examples and single-process tools. It forgets everything on exit; use the
// sqlite or postgres registries in production.
package memory

import (
	"context"
	"crypto"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/internal/keyres"
	"github.com/openiomt/sdk/telemetry"
)

// Config configures a Registry. The zero value uses time.Now.
type Config struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Registry is an in-memory device registry, safe for concurrent use.
type Registry struct {
	now     func() time.Time
	mu      sync.Mutex
	devices map[iomt.DeviceID]provisioning.Device
	tokens  map[string]time.Time
	certs   map[string]issued // serial bytes → certificate
}

type issued struct {
	device   iomt.DeviceID
	serial   *big.Int
	notAfter time.Time
}

var (
	_ provisioning.Registry     = (*Registry)(nil)
	_ provisioning.DeviceLister = (*Registry)(nil)
	_ telemetry.KeyResolver     = (*Registry)(nil)
)

// ResolveDeviceKey implements telemetry.KeyResolver: active devices
// resolve to the key of their current certificate and their patient
// binding; revoked and decommissioned devices to telemetry.ErrRevokedDevice;
// unknown and not yet enrolled ones to telemetry.ErrUnknownDevice.
func (r *Registry) ResolveDeviceKey(ctx context.Context, device iomt.DeviceID) (telemetry.DeviceKey, error) {
	return keyres.Resolve(r.Lookup(ctx, device))
}

// New returns an empty registry.
func New(cfg Config) *Registry {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Registry{now: cfg.Now, devices: make(map[iomt.DeviceID]provisioning.Device), tokens: make(map[string]time.Time),
		certs: make(map[string]issued)}
}

// Register implements provisioning.Registry.
func (r *Registry) Register(ctx context.Context, device iomt.DeviceID, pairingKey crypto.PublicKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if device.IsZero() {
		return provisioning.RegistryError("device", iomt.ErrInvalidID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.devices[device]; ok {
		return provisioning.RegistryError("device", provisioning.ErrAlreadyExists)
	}
	now := r.now()
	r.devices[device] = provisioning.Device{ID: device, Status: provisioning.StatusProvisioned,
		PairingKey: pairingKey, CreatedAt: now, UpdatedAt: now}
	return nil
}

// Lookup implements provisioning.Registry.
func (r *Registry) Lookup(ctx context.Context, device iomt.DeviceID) (provisioning.Device, error) {
	if err := ctx.Err(); err != nil {
		return provisioning.Device{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.devices[device]
	if !ok {
		return provisioning.Device{}, provisioning.RegistryError("device", provisioning.ErrUnknownDevice)
	}
	if d.CertSerial != nil {
		d.CertSerial = new(big.Int).Set(d.CertSerial)
	}
	return d, nil
}

// List implements provisioning.DeviceLister. It sorts the matching IDs on
// every call, which is fine for the fleets an in-memory registry holds.
func (r *Registry) List(ctx context.Context, opts provisioning.ListOptions) ([]provisioning.Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts, err := opts.Normalize()
	if err != nil {
		return nil, err
	}
	after := ""
	if !opts.After.IsZero() {
		after = opts.After.String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	type entry struct {
		key string
		d   provisioning.Device
	}
	var match []entry
	for id, d := range r.devices {
		k := id.String()
		if k <= after || (!opts.Patient.IsZero() && d.Patient != opts.Patient) ||
			(opts.Status != "" && d.Status != opts.Status) {
			continue
		}
		match = append(match, entry{k, d})
	}
	slices.SortFunc(match, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	match = match[:min(len(match), opts.Limit)]
	out := make([]provisioning.Device, len(match))
	for i, e := range match {
		if e.d.CertSerial != nil {
			e.d.CertSerial = new(big.Int).Set(e.d.CertSerial)
		}
		out[i] = e.d
	}
	return out, nil
}

// Activate implements provisioning.Registry.
func (r *Registry) Activate(ctx context.Context, e provisioning.Enrollment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := provisioning.ValidateEnrollment(e); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.devices[e.Device]
	if !ok {
		return provisioning.RegistryError("device", provisioning.ErrUnknownDevice)
	}
	if d.Status != provisioning.StatusProvisioned && d.Status != provisioning.StatusActive {
		return provisioning.RegistryError("status", provisioning.ErrRevoked)
	}
	d.Status = provisioning.StatusActive
	if !e.Patient.IsZero() {
		d.Patient = e.Patient
	}
	d.PublicKey = e.PublicKey
	d.CertSerial = new(big.Int).Set(e.CertSerial)
	d.CertNotAfter = e.CertNotAfter
	d.UpdatedAt = r.now()
	r.devices[e.Device] = d
	r.certs[string(e.CertSerial.Bytes())] = issued{device: e.Device, serial: new(big.Int).Set(e.CertSerial), notAfter: e.CertNotAfter}
	return nil
}

// RevokedSerials implements provisioning.Registry. Expired entries are
// dropped as a side effect.
func (r *Registry) RevokedSerials(ctx context.Context) ([]*big.Int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*big.Int
	for k, c := range r.certs {
		if !c.notAfter.After(now) {
			delete(r.certs, k)
			continue
		}
		d := r.devices[c.device]
		if provisioning.CheckDeviceCertificate(d, c.serial) != nil {
			out = append(out, new(big.Int).Set(c.serial))
		}
	}
	return out, nil
}

// Revoke implements provisioning.Registry.
func (r *Registry) Revoke(ctx context.Context, device iomt.DeviceID) error {
	return r.setStatus(ctx, device, provisioning.StatusRevoked)
}

// Decommission implements provisioning.Registry.
func (r *Registry) Decommission(ctx context.Context, device iomt.DeviceID) error {
	return r.setStatus(ctx, device, provisioning.StatusDecommissioned)
}

func (r *Registry) setStatus(ctx context.Context, device iomt.DeviceID, s provisioning.DeviceStatus) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.devices[device]
	if !ok {
		return provisioning.RegistryError("device", provisioning.ErrUnknownDevice)
	}
	if s == provisioning.StatusRevoked && d.Status == provisioning.StatusDecommissioned {
		return provisioning.RegistryError("status", provisioning.ErrInvalidTransition)
	}
	d.Status = s
	if s == provisioning.StatusDecommissioned {
		d.Patient = iomt.PatientID{}
	}
	d.UpdatedAt = r.now()
	r.devices[device] = d
	return nil
}

// CheckCertificate implements provisioning.RevocationChecker.
func (r *Registry) CheckCertificate(ctx context.Context, device iomt.DeviceID, serial *big.Int) error {
	d, err := r.Lookup(ctx, device)
	if err != nil {
		return err
	}
	return provisioning.CheckDeviceCertificate(d, serial)
}

// ConsumeToken implements provisioning.TokenLedger. Entries whose expiry is
// more than an hour past are dropped, bounding memory by the tokens issued
// in the last MaxTokenTTL plus an hour.
func (r *Registry) ConsumeToken(ctx context.Context, id string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if id == "" {
		return provisioning.RegistryError("token", provisioning.ErrMalformed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := r.now().Add(-time.Hour)
	for k, exp := range r.tokens {
		if exp.Before(cutoff) {
			delete(r.tokens, k)
		}
	}
	if _, ok := r.tokens[id]; ok {
		return provisioning.RegistryError("token", provisioning.ErrReplay)
	}
	r.tokens[id] = expires
	return nil
}
