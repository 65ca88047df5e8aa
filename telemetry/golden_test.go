package telemetry

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden")

// TestGoldenEnvelope pins the wire format: an Ed25519 envelope is
// deterministic, so any change to header, payload layout or encoding shows
// up here. Firmware written in other languages can test against
// testdata/golden (key, envelope and payload). Rewrite with -update.
func TestGoldenEnvelope(t *testing.T) {
	key := testKey(t, EdDSA, "golden")
	s, err := NewSigner(SignerConfig{Key: key, Device: testDev, Patient: testPat, Sequence: NewMemorySequence(41)})
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.Sign(context.Background(), iomt.BloodPressure{
		Systolic: 128, Diastolic: 82, MeanArterial: 97.3, Pulse: 71, Status: iomt.StatusIrregularPulse,
		MeasuredAt: time.Date(2026, 11, 25, 8, 30, 15, 250_000_000, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := MarshalPublicJWK(key.Public(), testDev)
	payload, _ := env.Payload.MarshalJSON()
	files := map[string][]byte{
		"eddsa.pub.jwk":      append(pub, '\n'),
		"eddsa.jws":          append(env.Compact, '\n'),
		"eddsa.payload.json": append(payload, '\n'),
	}
	dir := filepath.Join("testdata", "golden")
	for name, got := range files {
		path := filepath.Join(dir, name)
		if *updateGolden {
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s changed:\n got %s\nwant %s", name, got, want)
		}
	}
	// The golden envelope verifies with the golden key.
	r := &MemoryResolver{}
	gpub, dev, err := LoadPublicJWKFile(filepath.Join(dir, "eddsa.pub.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	r.Add(dev, gpub)
	v, _ := NewVerifier(VerifierConfig{Keys: r, Now: func() time.Time { return time.Date(2026, 11, 25, 8, 31, 0, 0, time.UTC) }})
	genv, _ := os.ReadFile(filepath.Join(dir, "eddsa.jws"))
	if _, err := v.Verify(context.Background(), bytes.TrimSpace(genv)); err != nil {
		t.Fatal(err)
	}
}
