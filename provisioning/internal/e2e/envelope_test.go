package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
)

// signer returns the device's telemetry signer: its enrolled key, its
// paired patient, and a crash-safe sequence file next to its identity.
func signer(t *testing.T, d *device, pat iomt.PatientID) *telemetry.Signer {
	t.Helper()
	seq, err := telemetry.OpenFileSequence(telemetry.FileSequenceConfig{Path: filepath.Join(d.store.Dir, "telemetry.seq")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seq.Close() })
	s, err := telemetry.NewSigner(telemetry.SignerConfig{Key: d.id.Key, Device: d.id.Device, Patient: pat, Sequence: seq})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reading() *iomt.BloodPressure {
	return &iomt.BloodPressure{Systolic: 128, Diastolic: 82, Pulse: 71, Unit: iomt.MmHg, MeasuredAt: time.Now().Add(-time.Second)}
}

// envelope returns the signed envelope the device publishes and the check
// the cloud ingest applies: the telemetry verifier with the device
// registry as its key resolver.
func envelope(t *testing.T, c *cloud, d *device, pat iomt.PatientID, topic string) ([]byte, func(ctx context.Context, topic string, b []byte) error) {
	t.Helper()
	env, err := signer(t, d, pat).Sign(context.Background(), reading())
	if err != nil {
		t.Fatal(err)
	}
	if env.Topic() != topic {
		t.Fatalf("envelope topic differs from the device's topic")
	}
	v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: c.registry})
	if err != nil {
		t.Fatal(err)
	}
	c.verifier = v
	return env.Compact, func(ctx context.Context, topic string, b []byte) error {
		p, err := v.VerifyTopic(ctx, topic, b)
		if err != nil {
			return err
		}
		if p.Device != d.id.Device || p.Patient != pat {
			return errors.New("verified envelope names another device or patient")
		}
		return nil
	}
}

// revokedCheck signs a fresh envelope with the revoked device's key and
// checks that the ingest's verifier refuses it as a revoked device.
func revokedCheck(ctx context.Context, c *cloud, d *device, pat iomt.PatientID, topic string) error {
	s, err := telemetry.NewSigner(telemetry.SignerConfig{Key: d.id.Key, Device: d.id.Device, Patient: pat,
		Sequence: telemetry.NewMemorySequence(1 << 20)})
	if err != nil {
		return err
	}
	env, err := s.Sign(ctx, reading())
	if err != nil {
		return err
	}
	_, err = c.verifier.VerifyTopic(ctx, topic, env.Compact)
	if !errors.Is(err, telemetry.ErrRevokedDevice) {
		return fmt.Errorf("envelope of a revoked device: %v, want telemetry.ErrRevokedDevice", err)
	}
	return nil
}
