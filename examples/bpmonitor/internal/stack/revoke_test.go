package stack

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/telemetry"
)

// TestRevokedMonitorTelemetryRefusedAtOnce: once an admin revokes a
// monitor in the portal, the next envelope it signs is refused by the
// cloud's telemetry verifier, which resolves keys from the registry itself.
func TestRevokedMonitorTelemetryRefusedAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartCloud(ctx, CloudConfig{StateDir: t.TempDir(), IdleTimeout: time.Minute, PasswordIterations: 1000, PortalOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	dev, _ := iomt.NewDeviceID(nil)
	pat, _ := iomt.NewPatientID(nil)
	key, err := telemetry.GenerateKey(telemetry.ES256, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Registry.Register(ctx, dev, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Registry.Activate(ctx, provisioning.Enrollment{Device: dev, Patient: pat, PublicKey: key.Public(),
		CertSerial: big.NewInt(77), CertNotAfter: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	signer, err := telemetry.NewSigner(telemetry.SignerConfig{Key: key, Device: dev, Patient: pat, Sequence: telemetry.NewMemorySequence(0)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.TelemetryVerifier()
	if err != nil {
		t.Fatal(err)
	}
	send := func() error {
		env, err := signer.Sign(ctx, iomt.BloodPressure{Systolic: 121, Diastolic: 79, Pulse: 66, MeasuredAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyTopic(ctx, env.Topic(), env.Compact)
		return err
	}
	if err := send(); err != nil {
		t.Fatalf("active monitor refused: %v", err)
	}
	fleet := &fleetView{c: c}
	devs, err := fleet.Devices(ctx, portalAdmin)
	if err != nil || len(devs) != 1 || devs[0].ID != dev || devs[0].Status != string(provisioning.StatusActive) {
		t.Fatalf("fleet view %v, %v", devs, err)
	}
	if err := fleet.RevokeDevice(ctx, portalAdmin, dev); err != nil {
		t.Fatal(err)
	}
	if err := send(); !errors.Is(err, telemetry.ErrRevokedDevice) {
		t.Fatalf("revoked monitor's telemetry: %v, want telemetry.ErrRevokedDevice", err)
	}
}
