package stack

import (
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
)

// PortalConfig returns the portal configuration reading through this
// cloud's silo, readings store, registry, OTA campaigns and SBOM.
func (c *Cloud) PortalConfig() portal.Config {
	sp := &siloPortal{phi: c.PHI}
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
