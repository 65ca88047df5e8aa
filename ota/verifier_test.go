package ota

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestVerifyAcceptsGoodRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 3, 2, 3, 2)
	img := testImage(300_000, 1)
	m := manifestFor(img)
	res, err := verifyAll(f.verifier(4, 3), nil, f.sign(m), img)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.ManifestVersion != 5 || res.Manifest.Version != "1.4.2" || res.RootRotated {
		t.Fatalf("result %+v", res)
	}
	if !bytes.Equal(res.State.Root, f.rootBytes) {
		t.Fatal("root changed without rotation")
	}
}

func TestArbitraryInstallationUnsignedOrWronglySigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 2, 1)
	img := testImage(1000, 2)
	m := manifestFor(img)
	attacker := genKeys(t, 2)

	t.Run("attacker key", func(t *testing.T) {
		_, err := verifyAll(f.verifier(0, 0), nil, f.sign(m, attacker...), img)
		var se *SignatureError
		if !errors.Is(err, ErrSignatureThreshold) || !errors.As(err, &se) || se.Role != "targets" || se.Valid != 0 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("root key signs manifest", func(t *testing.T) {
		_, err := verifyAll(f.verifier(0, 0), nil, f.sign(m, f.rootKeys...), img)
		if !errors.Is(err, ErrSignatureThreshold) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no signatures", func(t *testing.T) {
		payload, _ := json.Marshal(m)
		doc, _ := json.Marshal(map[string]any{"payload": b64.EncodeToString(payload), "signatures": []any{}})
		_, err := verifyAll(f.verifier(0, 0), nil, doc, img)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("alg none", func(t *testing.T) {
		signed := f.sign(m)
		var j jwsJSON
		_ = json.Unmarshal(signed, &j)
		h, _ := json.Marshal(map[string]string{"alg": "none", "kid": f.targetKeys[0].ID(), "typ": TypeManifest})
		j.Signatures[0].Protected = b64.EncodeToString(h)
		j.Signatures[0].Signature = ""
		doc, _ := json.Marshal(j)
		_, err := verifyAll(f.verifier(0, 0), nil, doc, img)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTamperManifestPayloadAfterSigning(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 3)
	m := manifestFor(img)
	var j jwsJSON
	if err := json.Unmarshal(f.sign(m), &j); err != nil {
		t.Fatal(err)
	}
	m.SecurityVersion = 99
	payload, _ := json.Marshal(m)
	j.Payload = b64.EncodeToString(payload)
	doc, _ := json.Marshal(j)
	if _, err := verifyAll(f.verifier(0, 0), nil, doc, img); !errors.Is(err, ErrSignatureThreshold) {
		t.Fatalf("err = %v", err)
	}
}

func TestBelowThresholdSignatures(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 3, 2)
	img := testImage(1000, 4)
	_, err := verifyAll(f.verifier(0, 0), nil, f.sign(manifestFor(img), f.targetKeys[1]), img)
	var se *SignatureError
	if !errors.As(err, &se) || se.Valid != 1 || se.Threshold != 2 {
		t.Fatalf("err = %v", err)
	}
}

func TestDuplicateSignatureByOneKeyCountedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 2, 2)
	img := testImage(1000, 5)
	var j jwsJSON
	if err := json.Unmarshal(f.sign(manifestFor(img), f.targetKeys[0]), &j); err != nil {
		t.Fatal(err)
	}
	// The same signature twice, and a second fresh signature by the same key.
	again, err := f.targetKeys[0].sign(rand.Reader, []byte(j.Signatures[0].Protected+"."+j.Payload))
	if err != nil {
		t.Fatal(err)
	}
	j.Signatures = append(j.Signatures, j.Signatures[0], jwsSig{Protected: j.Signatures[0].Protected, Signature: b64.EncodeToString(again)})
	doc, _ := json.Marshal(j)
	_, err = verifyAll(f.verifier(0, 0), nil, doc, img)
	var se *SignatureError
	if !errors.As(err, &se) || se.Valid != 1 {
		t.Fatalf("err = %v", err)
	}
}

func TestDuplicateKeyUnderTwoIDsRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	var j jwsJSON
	_ = json.Unmarshal(f.rootBytes, &j)
	payload, _ := b64.DecodeString(j.Payload)
	var w map[string]any
	_ = json.Unmarshal(payload, &w)
	keys := w["keys"].(map[string]any)
	keys["alias"] = keys[f.targetKeys[0].ID()]
	roles := w["roles"].(map[string]any)
	tr := roles["targets"].(map[string]any)
	tr["keyids"] = []string{f.targetKeys[0].ID(), "alias"}
	tr["threshold"] = 2
	p2, _ := json.Marshal(w)
	if _, err := parseRootPayload(p2); !errors.Is(err, ErrMalformed) {
		t.Fatalf("alias key accepted: %v", err)
	}
}

func TestRollbackSecurityVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 6)
	m := manifestFor(img) // security_version 3
	if _, err := verifyAll(f.verifier(0, 4), nil, f.sign(m), img); !errors.Is(err, ErrSecurityRollback) {
		t.Fatalf("err = %v", err)
	}
	if _, err := verifyAll(f.verifier(0, 3), nil, f.sign(m), img); err != nil {
		t.Fatalf("equal security version rejected: %v", err)
	}
}

func TestRollbackManifestVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 7)
	m := manifestFor(img) // manifest_version 5
	if _, err := verifyAll(f.verifier(6, 0), nil, f.sign(m), img); !errors.Is(err, ErrManifestRollback) {
		t.Fatalf("err = %v", err)
	}
}

func TestIndefiniteFreezeExpiredManifest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 8)
	m := manifestFor(img)
	m.Expires = t0 // expiry instant is already expired
	if _, err := verifyAll(f.verifier(0, 0), nil, f.sign(m), img); !errors.Is(err, ErrExpired) {
		t.Fatalf("err = %v", err)
	}
}

func TestIndefiniteFreezeExpiredRoot(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	f.root.Expires = t0.Add(-time.Second)
	var err error
	if f.rootBytes, err = SignRoot(rand.Reader, f.root, f.rootKeys); err != nil {
		t.Fatal(err)
	}
	img := testImage(1000, 9)
	if _, err := verifyAll(f.verifier(0, 0), nil, f.sign(manifestFor(img)), img); !errors.Is(err, ErrExpired) {
		t.Fatalf("err = %v", err)
	}
}

func TestWrongHardwareIncompatible(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 10)
	m := manifestFor(img)
	m.Hardware = []string{"infusion-pump-x"}
	if _, err := verifyAll(f.verifier(0, 0), nil, f.sign(m), img); !errors.Is(err, ErrHardwareIncompatible) {
		t.Fatalf("err = %v", err)
	}
}

// endless yields the image and then never-ending bytes.
type endless struct {
	prefix io.Reader
	served int64
}

func (e *endless) Read(p []byte) (int, error) {
	if n, _ := e.prefix.Read(p); n > 0 {
		e.served += int64(n)
		return n, nil
	}
	for i := range p {
		p[i] = 0xA5
	}
	e.served += int64(len(p))
	return len(p), nil
}

func TestEndlessDataImage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 11)
	v := f.verifier(0, 0)
	if _, err := v.VerifyManifest(f.sign(manifestFor(img))); err != nil {
		t.Fatal(err)
	}
	src := &endless{prefix: bytes.NewReader(img)}
	var slot bytes.Buffer
	err := v.VerifyImage(src, &slot)
	var ie *ImageError
	if !errors.Is(err, ErrImageTooLong) || !errors.As(err, &ie) {
		t.Fatalf("err = %v", err)
	}
	if src.served > int64(len(img))+verifyBufSize {
		t.Fatalf("read %d bytes of an endless stream", src.served)
	}
	if slot.Len() > len(img) {
		t.Fatalf("wrote %d bytes past the declared length", slot.Len()-len(img))
	}
}

func TestAppendedBytesImageExtra(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 12)
	evil := append(bytes.Clone(img), 0x00)
	if _, err := verifyAll(f.verifier(0, 0), nil, f.sign(manifestFor(img)), evil); !errors.Is(err, ErrImageTooLong) {
		t.Fatalf("err = %v", err)
	}
}

func TestTruncatedImage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 13)
	if _, err := verifyAll(f.verifier(0, 0), nil, f.sign(manifestFor(img)), img[:999]); !errors.Is(err, ErrImageTruncated) {
		t.Fatalf("err = %v", err)
	}
}

func TestTamperImageDigestMismatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 14)
	evil := bytes.Clone(img)
	evil[500] ^= 1
	if _, err := verifyAll(f.verifier(0, 0), nil, f.sign(manifestFor(img)), evil); !errors.Is(err, ErrImageDigest) {
		t.Fatalf("err = %v", err)
	}
}

// rotate signs root version+1 with the given keys.
func (f *fixture) rotate(prev *Root, next *Root, signers ...*PrivateKey) []byte {
	f.t.Helper()
	next.Version = prev.Version + 1
	payload, _ := json.Marshal(next)
	b, err := signJWS(rand.Reader, payload, TypeRoot, signers)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func TestMixAndMatchManifestSignedByRevokedKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	newTargets := genKeys(t, 1)
	r2 := buildRoot(2, pubs(f.rootKeys), 1, pubs(newTargets), 1)
	root2 := f.rotate(f.root, r2, f.rootKeys...)
	img := testImage(1000, 15)
	old := f.sign(manifestFor(img)) // signed by the now revoked targets key
	if _, err := verifyAll(f.verifier(0, 0), [][]byte{root2}, old, img); !errors.Is(err, ErrSignatureThreshold) {
		t.Fatalf("err = %v", err)
	}
	if _, err := verifyAll(f.verifier(0, 0), [][]byte{root2}, f.sign(manifestFor(img), newTargets...), img); err != nil {
		t.Fatalf("new key rejected: %v", err)
	}
}

func TestRootRotationSignedOnlyByNewKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2, 2, 1, 1)
	attacker := genKeys(t, 2)
	r2 := buildRoot(2, pubs(attacker), 2, pubs(attacker), 1)
	root2 := f.rotate(f.root, r2, attacker...)
	v := f.verifier(0, 0)
	err := v.UpdateRoot(root2)
	var se *SignatureError
	if !errors.As(err, &se) || se.Version != 1 || se.Role != "root" {
		t.Fatalf("err = %v", err)
	}
	// Old threshold met but only one old key: still below threshold.
	root2b := f.rotate(f.root, buildRoot(2, pubs(attacker), 2, pubs(attacker), 1), f.rootKeys[0], attacker[0], attacker[1])
	if err := f.verifier(0, 0).UpdateRoot(root2b); !errors.Is(err, ErrSignatureThreshold) {
		t.Fatalf("err = %v", err)
	}
}

func TestRootRotationSignedOnlyByOldKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	newRoot := genKeys(t, 1)
	root2 := f.rotate(f.root, buildRoot(2, pubs(newRoot), 1, pubs(f.targetKeys), 1), f.rootKeys...)
	err := f.verifier(0, 0).UpdateRoot(root2)
	var se *SignatureError
	if !errors.As(err, &se) || se.Version != 2 {
		t.Fatalf("err = %v", err)
	}
}

func TestRootRotationChainAndVersionSkip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	k2, k3 := genKeys(t, 1), genKeys(t, 1)
	r2 := buildRoot(2, pubs(k2), 1, pubs(f.targetKeys), 1)
	root2 := f.rotate(f.root, r2, append(f.rootKeys, k2...)...)
	r3 := buildRoot(3, pubs(k3), 1, pubs(f.targetKeys), 1)
	root3 := f.rotate(r2, r3, append(k2, k3...)...)

	if err := f.verifier(0, 0).UpdateRoot(root3); !errors.Is(err, ErrSignatureThreshold) {
		t.Fatalf("skip to 3: %v", err)
	}
	// Root 3 signed by root 1's keys too, but still not version 2.
	root3b := f.rotate(r2, buildRoot(3, pubs(k3), 1, pubs(f.targetKeys), 1), append(f.rootKeys, k3...)...)
	if err := f.verifier(0, 0).UpdateRoot(root3b); !errors.Is(err, ErrRootVersion) {
		t.Fatalf("version skip: %v", err)
	}
	img := testImage(1000, 16)
	res, err := verifyAll(f.verifier(0, 0), [][]byte{root2, root3}, f.sign(manifestFor(img)), img)
	if err != nil {
		t.Fatal(err)
	}
	if !res.RootRotated || res.Root.Version != 3 || !bytes.Equal(res.State.Root, root3) {
		t.Fatalf("result root version %d", res.Root.Version)
	}
	// Replaying root 2 against root 3 fails.
	v, err := NewVerifier(Config{HardwareID: testHW, Now: func() time.Time { return t0 }}, res.State, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.UpdateRoot(root2); !errors.Is(err, ErrSignatureThreshold) && !errors.Is(err, ErrRootVersion) {
		t.Fatalf("replayed old root: %v", err)
	}
}

func TestTooManyRootRotations(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	v, err := NewVerifier(Config{HardwareID: testHW, Now: func() time.Time { return t0 }, MaxRootRotations: 2},
		TrustedState{Root: f.rootBytes}, 0)
	if err != nil {
		t.Fatal(err)
	}
	prev := f.root
	for i := range 3 {
		next := buildRoot(0, pubs(f.rootKeys), 1, pubs(f.targetKeys), 1)
		b := f.rotate(prev, next, f.rootKeys...)
		err := v.UpdateRoot(b)
		if i < 2 && err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if i == 2 && !errors.Is(err, ErrTooManyRotations) {
			t.Fatalf("rotation %d: %v", i, err)
		}
		prev = next
	}
}

func TestFastForwardRecoveryAfterKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 17)
	// An attacker holding the compromised targets key pushes a huge
	// manifest_version; the device accepted it.
	inflated := manifestFor(img)
	inflated.ManifestVersion = 1 << 40
	res, err := verifyAll(f.verifier(0, 0), nil, f.sign(inflated), img)
	if err != nil {
		t.Fatal(err)
	}
	honest := manifestFor(img) // manifest_version 5
	// Without rotation the device is locked out of honest releases.
	v, _ := NewVerifier(Config{HardwareID: testHW, Now: func() time.Time { return t0 }}, res.State, 0)
	if _, err := v.VerifyManifest(f.sign(honest)); !errors.Is(err, ErrManifestRollback) {
		t.Fatalf("err = %v", err)
	}
	// The maker rotates the targets key; the device recovers.
	newTargets := genKeys(t, 1)
	root2 := f.rotate(f.root, buildRoot(2, pubs(f.rootKeys), 1, pubs(newTargets), 1), f.rootKeys...)
	v, _ = NewVerifier(Config{HardwareID: testHW, Now: func() time.Time { return t0 }}, res.State, 0)
	res2, err := verifyAll(v, [][]byte{root2}, f.sign(honest, newTargets...), img)
	if err != nil {
		t.Fatalf("recovery failed: %v", err)
	}
	if res2.State.ManifestVersion != 5 {
		t.Fatalf("manifest version %d", res2.State.ManifestVersion)
	}
	// A root rotation that keeps the targets keys does not reset.
	root2same := f.rotate(f.root, buildRoot(2, pubs(f.rootKeys), 1, pubs(f.targetKeys), 1), f.rootKeys...)
	v, _ = NewVerifier(Config{HardwareID: testHW, Now: func() time.Time { return t0 }}, res.State, 0)
	if err := v.UpdateRoot(root2same); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyManifest(f.sign(honest)); !errors.Is(err, ErrManifestRollback) {
		t.Fatalf("err = %v", err)
	}
}

func TestTypeConfusionRootAsManifest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	v := f.verifier(0, 0)
	if _, err := v.VerifyManifest(f.rootBytes); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	img := testImage(10, 1)
	if err := f.verifier(0, 0).UpdateRoot(f.sign(manifestFor(img))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

func TestOversizeDocuments(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	big := []byte(`{"payload":"` + strings.Repeat("A", MaxManifestBytes) + `","signatures":[]}`)
	_, err := f.verifier(0, 0).VerifyManifest(big)
	var le *LimitError
	if !errors.As(err, &le) || le.Name != "MaxManifestBytes" || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	img := testImage(10, 1)
	m := manifestFor(img)
	m.Length = DefaultMaxImageLength + 1
	if _, err := f.verifier(0, 0).VerifyManifest(f.sign(m)); !errors.As(err, &le) || le.Name != "MaxImageLength" {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifierFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(1000, 18)
	v := f.verifier(0, 0)
	if err := v.VerifyImage(bytes.NewReader(img), nil); !errors.Is(err, ErrVerifierState) {
		t.Fatalf("image before manifest: %v", err)
	}
	if _, err := v.VerifyManifest(f.sign(manifestFor(img))); !errors.Is(err, ErrVerifierState) {
		t.Fatalf("after failure: %v", err)
	}
	v = f.verifier(0, 0)
	if _, err := v.VerifyManifest(f.sign(manifestFor(img))); err != nil {
		t.Fatal(err)
	}
	if err := v.UpdateRoot(f.rootBytes); !errors.Is(err, ErrVerifierState) {
		t.Fatalf("root after manifest: %v", err)
	}
	if _, err := v.Result(); !errors.Is(err, ErrVerifierState) {
		t.Fatalf("result after failure: %v", err)
	}
}

func TestTamperDuplicateJSONKeysRejected(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`, `[{"x":1,"x":1}]`,
	} {
		if err := checkDuplicatesAndDepth([]byte(doc)); err == nil {
			t.Errorf("%s accepted", doc)
		}
	}
	for _, doc := range []string{`{"a":1,"b":{"a":1}}`, `[{"x":1},{"x":1}]`, `{}`, `[]`} {
		if err := checkDuplicatesAndDepth([]byte(doc)); err != nil {
			t.Errorf("%s rejected: %v", doc, err)
		}
	}
	if err := checkDuplicatesAndDepth([]byte(strings.Repeat("[", 20) + strings.Repeat("]", 20))); err == nil {
		t.Error("deep nesting accepted")
	}
}

func TestManifestFieldRules(t *testing.T) {
	t.Parallel()
	img := testImage(10, 1)
	for name, mod := range map[string]func(*Manifest){
		"version":  func(m *Manifest) { m.Version = "v1.2.3" },
		"semver":   func(m *Manifest) { m.Version = "1.2" },
		"url":      func(m *Manifest) { m.URL = "http://x/y" },
		"sha256":   func(m *Manifest) { m.SHA256 = strings.ToUpper(m.SHA256) },
		"hardware": func(m *Manifest) { m.Hardware = []string{"a b"} },
		"length":   func(m *Manifest) { m.Length = 0 },
		"name":     func(m *Manifest) { m.Name = "" },
		"mver":     func(m *Manifest) { m.ManifestVersion = 0 },
	} {
		m := manifestFor(img)
		mod(m)
		if err := m.validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, ok := range []string{"1.0.0", "0.0.1-rc.1+build.5", "10.20.30"} {
		if !ValidSemver(ok) {
			t.Errorf("%s rejected", ok)
		}
	}
}
