package telemetry

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Fixed identities and clock for tests; no test reads the wall clock.
var (
	testDev   = iomt.MustParseDeviceID("6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70")
	testDev2  = iomt.MustParseDeviceID("0b7e3c2a-1d4f-4e6a-8b9c-7d2e1f0a3b4c")
	testPat   = iomt.MustParsePatientID("a3e1f2d4-5b6c-4d7e-8f90-1a2b3c4d5e6f")
	testNow   = time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)
	testAlgos = []Algorithm{ES256, EdDSA}
)

// testKey returns a deterministic key for alg derived from label.
func testKey(t testing.TB, alg Algorithm, label string) crypto.Signer {
	t.Helper()
	seed := sha256.Sum256([]byte("openiomt test key " + label))
	switch alg {
	case EdDSA:
		return ed25519.NewKeyFromSeed(seed[:])
	case ES256:
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Fatalf("alg %q", alg)
	return nil
}

func testBP(at time.Time) iomt.BloodPressure {
	return iomt.BloodPressure{Systolic: 121, Diastolic: 79, Pulse: 64, MeasuredAt: at}
}

// fixture is a device with a key, a signer, and a verifier that knows it.
type fixture struct {
	key      crypto.Signer
	signer   *Signer
	resolver *MemoryResolver
	verifier *Verifier
	now      time.Time
}

func newFixture(t testing.TB, alg Algorithm) *fixture {
	t.Helper()
	f := &fixture{key: testKey(t, alg, string(alg)), resolver: &MemoryResolver{}, now: testNow}
	var err error
	f.signer, err = NewSigner(SignerConfig{Key: f.key, Device: testDev, Patient: testPat, Sequence: NewMemorySequence(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.resolver.Add(testDev, f.key.Public()); err != nil {
		t.Fatal(err)
	}
	f.verifier, err = NewVerifier(VerifierConfig{Keys: f.resolver, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) sign(t testing.TB, r iomt.Reading) *Envelope {
	t.Helper()
	env, err := f.signer.Sign(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// signRaw signs an arbitrary header and payload with key, producing JWS
// compact form the way an attacker with the device key (or a foreign
// library) could.
func signRaw(t testing.TB, key crypto.Signer, alg Algorithm, header, payload []byte) []byte {
	t.Helper()
	out := b64.AppendEncode(nil, header)
	out = append(out, '.')
	out = b64.AppendEncode(out, payload)
	sig, err := signInput(key, alg, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '.')
	return b64.AppendEncode(out, sig)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
