package stack

import (
	"context"
	"slices"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

// PortalConfig returns the portal configuration reading through this
// cloud's silo, readings store, registry, OTA campaigns and SBOM.
func (c *Cloud) PortalConfig() portal.Config {
	sp := &siloPortal{phi: c.PHI, dir: c.patientDirectory}
	rd := &storeReadings{st: c.Store, phi: c.PHI}
	cfg := portal.Config{
		Auth: sp, Patients: sp, Shares: sp, Audit: sp, Readings: rd, FHIR: rd,
		Fleet:    &fleetView{c: c, firmware: c.firmwareOf},
		Purposes: Purposes(),
		Logger:   c.logger,
		Location: time.Local,
	}
	if c.campaigns != nil {
		cfg.Campaigns = c.campaigns
	}
	if c.sbom != nil {
		cfg.SBOM = c.sbom
	}
	return cfg
}

// patientDirectory lists the patients bound to the fleet's devices.
func (c *Cloud) patientDirectory(ctx context.Context) ([]iomt.PatientID, error) {
	devs, err := c.allDevices(ctx, provisioning.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []iomt.PatientID
	for _, d := range devs {
		if !d.Patient.IsZero() && !slices.Contains(out, d.Patient) {
			out = append(out, d.Patient)
		}
	}
	return out, nil
}
