package ota

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

// t0 is the injected "now" of every test.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const testHW = "bpm-rev-c"

type fixture struct {
	t          testing.TB
	rootKeys   []*PrivateKey
	targetKeys []*PrivateKey
	root       *Root
	rootBytes  []byte
}

func genKeys(t testing.TB, n int) []*PrivateKey {
	t.Helper()
	var ks []*PrivateKey
	for i := range n {
		alg := AlgES256
		if i%2 == 1 {
			alg = AlgEdDSA
		}
		k, err := GenerateKey(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	return ks
}

func pubs(ks []*PrivateKey) []*PublicKey {
	var p []*PublicKey
	for _, k := range ks {
		p = append(p, k.Public())
	}
	return p
}

// buildRoot returns an unsigned root of version v.
func buildRoot(version uint64, rootKeys []*PublicKey, rootThr int, targetKeys []*PublicKey, targetThr int) *Root {
	r := &Root{Version: version, Expires: t0.Add(365 * 24 * time.Hour)}
	for _, k := range rootKeys {
		r.Roles.Root.KeyIDs = append(r.Roles.Root.KeyIDs, r.AddKey(k))
	}
	for _, k := range targetKeys {
		r.Roles.Targets.KeyIDs = append(r.Roles.Targets.KeyIDs, r.AddKey(k))
	}
	r.Roles.Root.Threshold, r.Roles.Targets.Threshold = rootThr, targetThr
	return r
}

func newFixture(t testing.TB, nRoot, rootThr, nTargets, targetThr int) *fixture {
	t.Helper()
	f := &fixture{t: t, rootKeys: genKeys(t, nRoot), targetKeys: genKeys(t, nTargets)}
	f.root = buildRoot(1, pubs(f.rootKeys), rootThr, pubs(f.targetKeys), targetThr)
	var err error
	f.rootBytes, err = SignRoot(rand.Reader, f.root, f.rootKeys)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func testImage(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func manifestFor(img []byte) *Manifest {
	sum := sha256.Sum256(img)
	return &Manifest{
		ManifestVersion: 5,
		Expires:         t0.Add(30 * 24 * time.Hour),
		Name:            "bpm-firmware",
		Version:         "1.4.2",
		SecurityVersion: 3,
		Hardware:        []string{"bpm-rev-b", testHW},
		Length:          int64(len(img)),
		SHA256:          hex.EncodeToString(sum[:]),
		URL:             "https://updates.example.com/bpm-1.4.2.img",
	}
}

func (f *fixture) sign(m *Manifest, keys ...*PrivateKey) []byte {
	f.t.Helper()
	if keys == nil {
		keys = f.targetKeys
	}
	b, err := SignManifest(rand.Reader, m, keys)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) verifier(mver, counter uint64) *Verifier {
	f.t.Helper()
	v, err := NewVerifier(Config{HardwareID: testHW, Now: func() time.Time { return t0 }},
		TrustedState{Root: f.rootBytes, ManifestVersion: mver}, counter)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// verifyAll runs every step and returns the first error.
func verifyAll(v *Verifier, roots [][]byte, manifest, image []byte) (*Result, error) {
	for _, r := range roots {
		if err := v.UpdateRoot(r); err != nil {
			return nil, err
		}
	}
	if _, err := v.VerifyManifest(manifest); err != nil {
		return nil, err
	}
	if err := v.VerifyImage(bytes.NewReader(image), nil); err != nil {
		return nil, err
	}
	return v.Result()
}
