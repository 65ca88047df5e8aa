package ingest_test

import (
	"bytes"
	"crypto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
)

// fleet is a set of devices with real keys and a verifier that knows them.
type fleet struct {
	res *telemetry.MemoryResolver
}

type device struct {
	id  iomt.DeviceID
	pat iomt.PatientID
	key crypto.Signer
}

func newFleet() *fleet { return &fleet{res: &telemetry.MemoryResolver{}} }

func mustDev() iomt.DeviceID {
	id, err := iomt.NewDeviceID(nil)
	if err != nil {
		panic(err)
	}
	return id
}

func mustPat() iomt.PatientID {
	id, err := iomt.NewPatientID(nil)
	if err != nil {
		panic(err)
	}
	return id
}

func (f *fleet) add(t testing.TB, pat iomt.PatientID) *device {
	t.Helper()
	key, err := telemetry.GenerateKey(telemetry.ES256, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &device{id: mustDev(), pat: pat, key: key}
	if err := f.res.Add(d.id, key.Public()); err != nil {
		t.Fatal(err)
	}
	return d
}

// verifier returns an ingest Verifier over the real telemetry.Verifier.
func (f *fleet) verifier(t testing.TB) ingest.Verifier {
	t.Helper()
	v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: f.res, Replay: ingest.NoReplayWindow{}})
	if err != nil {
		t.Fatal(err)
	}
	return ingest.FromTelemetry(v)
}

// writeJWKS writes the fleet's public keys for child processes.
func (f *fleet) writeJWKS(t testing.TB) string {
	t.Helper()
	b, err := f.res.MarshalJWKS()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "fleet.jwks")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func bp(seq uint64, at time.Time) iomt.BloodPressure {
	return iomt.BloodPressure{Systolic: float64(100 + seq%80), Diastolic: 70, Pulse: 64, Unit: iomt.MmHg, MeasuredAt: at}
}

// envelope signs reading number seq, measured at at.
func (d *device) envelope(t testing.TB, seq uint64, at time.Time) []byte {
	t.Helper()
	b, err := signEnvelope(d.key, d.id, d.pat, seq, at)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signEnvelope(key crypto.Signer, dev iomt.DeviceID, pat iomt.PatientID, seq uint64, at time.Time) ([]byte, error) {
	at = at.UTC().Truncate(time.Millisecond)
	return telemetry.SignPayload(key, &telemetry.Payload{Version: 1, Device: dev, Patient: pat, Seq: seq, Time: at,
		Kind: iomt.KindBloodPressure, Reading: bp(seq, at)}, nil)
}

func (d *device) topic() string { return telemetry.Topic(d.id, iomt.KindBloodPressure) }

// forge returns env with the signature of other: well-formed, but the
// signature does not match the signing input.
func forge(env, other []byte) []byte {
	i := bytes.LastIndexByte(env, '.')
	j := bytes.LastIndexByte(other, '.')
	return append(append([]byte{}, env[:i]...), other[j:]...)
}
