package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

// fleetView adapts the device registry to the portal's fleet page. Device
// data holds no PHI; it is still limited to admin and support staff.
type fleetView struct {
	c *Cloud
	// firmware reports a device's running firmware version, if known.
	firmware func(iomt.DeviceID) string
}

var _ portal.Fleet = (*fleetView)(nil)

func staffOnly(s portal.Session) error {
	if s.Role != portal.RoleAdmin && s.Role != portal.RoleSupport {
		return portal.ErrForbidden
	}
	return nil
}

func (f *fleetView) Devices(ctx context.Context, s portal.Session) ([]portal.Device, error) {
	if err := staffOnly(s); err != nil {
		return nil, err
	}
	devs, err := f.c.allDevices(ctx, provisioning.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []portal.Device
	for _, d := range devs {
		id := d.ID
		pd := portal.Device{ID: id, Status: string(d.Status), Firmware: "—"}
		if f.firmware != nil {
			if v := f.firmware(id); v != "" {
				pd.Firmware = v
			}
		}
		if d.CertSerial != nil {
			pd.Serial = fmt.Sprintf("%x", d.CertSerial)
			if len(pd.Serial) > 16 {
				pd.Serial = pd.Serial[:16] + "…"
			}
		}
		if !d.Patient.IsZero() {
			pd.LastSeen = f.lastReading(ctx, d.Patient, id)
		}
		out = append(out, pd)
	}
	return out, nil
}

func (f *fleetView) lastReading(ctx context.Context, p iomt.PatientID, dev iomt.DeviceID) time.Time {
	rows, err := f.c.Store.LatestByPatient(ctx, p)
	if err != nil {
		return time.Time{}
	}
	for _, r := range rows {
		if r.DeviceID == dev {
			return r.Time
		}
	}
	return time.Time{}
}

func (f *fleetView) RevokeDevice(ctx context.Context, s portal.Session, id iomt.DeviceID) error {
	if s.Role != portal.RoleAdmin {
		return portal.ErrForbidden
	}
	if err := f.c.Registry.Revoke(ctx, id); err != nil {
		if errors.Is(err, provisioning.ErrUnknownDevice) {
			return portal.ErrNotFound
		}
		return err
	}
	if f.c.Broker != nil {
		f.c.Broker.Disconnect(id.String())
	}
	f.c.cfg.Story.Tell("portal", "%s revoked monitor %s: certificate, connection and telemetry refused from now on", s.UserID, id.String()[:8])
	return nil
}
