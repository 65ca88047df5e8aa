// Package keyres maps a registry record to the telemetry key resolution
// contract, shared by every registry implementation.
package keyres

import (
	"errors"
	"fmt"

	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/telemetry"
)

// Resolve turns the result of a registry Lookup into the answer of
// telemetry.KeyResolver.ResolveDeviceKey:
//
//   - unknown device, or registered but never enrolled (no key yet):
//     an error wrapping telemetry.ErrUnknownDevice;
//   - revoked or decommissioned: an error wrapping both
//     telemetry.ErrRevokedDevice and provisioning.ErrRevoked;
//   - active: the key from its current certificate, KeyActive, and the
//     patient binding, so envelopes naming another patient are refused;
//   - any other lookup error is returned as is (a transient failure).
func Resolve(d provisioning.Device, err error) (telemetry.DeviceKey, error) {
	if err != nil {
		if errors.Is(err, provisioning.ErrUnknownDevice) {
			return telemetry.DeviceKey{}, fmt.Errorf("%w: %w", telemetry.ErrUnknownDevice, err)
		}
		return telemetry.DeviceKey{}, err
	}
	switch d.Status {
	case provisioning.StatusActive:
		if d.PublicKey == nil {
			return telemetry.DeviceKey{}, fmt.Errorf("%w: %w", telemetry.ErrUnknownDevice,
				provisioning.RegistryError("public key", provisioning.ErrMalformed))
		}
		return telemetry.DeviceKey{Key: d.PublicKey, Status: telemetry.KeyActive, Patient: d.Patient}, nil
	case provisioning.StatusProvisioned:
		return telemetry.DeviceKey{}, fmt.Errorf("%w: not enrolled", telemetry.ErrUnknownDevice)
	}
	return telemetry.DeviceKey{}, fmt.Errorf("%w: %w", telemetry.ErrRevokedDevice,
		provisioning.RegistryError("status", provisioning.ErrRevoked))
}
