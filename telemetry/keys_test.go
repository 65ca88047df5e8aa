package telemetry

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/openiomt/sdk/iomt"
)

func TestJWKRoundTrip(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			key, err := GenerateKey(alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := MarshalPrivateJWK(key, testDev)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := MarshalPublicJWK(key.Public(), testDev)
			if err != nil {
				t.Fatal(err)
			}
			k2, dev, err := ParsePrivateJWK(priv)
			if err != nil || dev != testDev {
				t.Fatalf("ParsePrivateJWK: %v %v", dev, err)
			}
			p2, dev, err := ParsePublicJWK(pub)
			if err != nil || dev != testDev {
				t.Fatalf("ParsePublicJWK: %v %v", dev, err)
			}
			if !equalPub(p2, key.Public()) {
				t.Fatal("public key changed")
			}
			if !equalPub(k2.Public(), key.Public()) {
				t.Fatal("private key changed")
			}
			var m map[string]any
			json.Unmarshal(pub, &m)
			if m["kid"] != testDev.String() || m["alg"] != string(alg) || m["use"] != "sig" || m["d"] != nil {
				t.Fatalf("public JWK members %v", m)
			}
			// A public JWK is not a private one and vice versa.
			if _, _, err := ParsePrivateJWK(pub); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("public as private: %v", err)
			}
			if _, _, err := ParsePublicJWK(priv); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("private as public: %v", err)
			}
		})
	}
}

func equalPub(a, b any) bool {
	switch x := a.(type) {
	case *ecdsa.PublicKey:
		return x.Equal(b)
	case ed25519.PublicKey:
		return x.Equal(b)
	}
	return false
}

func jwkOf(t *testing.T, raw any, set map[string]any) []byte {
	t.Helper()
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range set {
		if err := k.Set(n, v); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(k)
	return b
}

func TestParsePublicJWKRejects(t *testing.T) {
	kid := map[string]any{"kid": testDev.String()}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ed := testKey(t, EdDSA, "x").Public()
	ec := testKey(t, ES256, "x").Public().(*ecdsa.PublicKey)
	good := string(jwkOf(t, ec, kid))
	yAt := strings.Index(good, `"y":"`) + 10
	offCurve := good[:yAt] + nextB64(good[yAt]) + good[yAt+1:] // same length, not on P-256
	for name, b := range map[string][]byte{
		"P-384":         jwkOf(t, &p384.PublicKey, kid),
		"RSA":           jwkOf(t, &rsaKey.PublicKey, kid),
		"oct":           []byte(`{"kty":"oct","k":"c2VjcmV0","kid":"` + testDev.String() + `"}`),
		"no kid":        jwkOf(t, ed, nil),
		"kid not UUID":  jwkOf(t, ed, map[string]any{"kid": "device-1"}),
		"kid uppercase": jwkOf(t, ed, map[string]any{"kid": strings.ToUpper(testDev.String())}),
		"alg mismatch":  jwkOf(t, ed, map[string]any{"kid": testDev.String(), "alg": "ES256"}),
		"alg HS256":     jwkOf(t, ec, map[string]any{"kid": testDev.String(), "alg": "HS256"}),
		"use enc":       jwkOf(t, ec, map[string]any{"kid": testDev.String(), "use": "enc"}),
		"off curve":     []byte(offCurve),
		"not JSON":      []byte("hello"),
		"array":         []byte("[]"),
		"JWK set":       []byte(`{"keys":[` + good + `]}`),
	} {
		if _, _, err := ParsePublicJWK(b); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := ParsePublicJWK(make([]byte, MaxJWKSize+1)); !errors.Is(err, ErrOversize) {
		t.Errorf("oversize: %v", err)
	}
}

func TestParsePrivateJWKRejectsMismatchedPublicMembers(t *testing.T) {
	for _, alg := range testAlgos {
		a, b := testKey(t, alg, "a"), testKey(t, alg, "b")
		privA, _ := MarshalPrivateJWK(a, testDev)
		pubB, _ := MarshalPublicJWK(b.Public(), testDev)
		var ma, mb map[string]any
		json.Unmarshal(privA, &ma)
		json.Unmarshal(pubB, &mb)
		ma["x"] = mb["x"]
		if alg == ES256 {
			ma["y"] = mb["y"]
		}
		mixed, _ := json.Marshal(ma)
		if _, _, err := ParsePrivateJWK(mixed); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: mixed key accepted: %v", alg, err)
		}
	}
}

func TestJWKSResolver(t *testing.T) {
	ctx := context.Background()
	ec, ed := testKey(t, ES256, "a"), testKey(t, EdDSA, "b")
	r := &MemoryResolver{}
	if err := r.Add(testDev, ec.Public()); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(testDev2, ed.Public()); err != nil {
		t.Fatal(err)
	}
	set, err := r.MarshalJWKS()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleet.jwks")
	os.WriteFile(path, set, 0o600)
	r2, err := LoadJWKSFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Len() != 2 {
		t.Fatalf("%d keys", r2.Len())
	}
	for dev, want := range map[string]any{testDev.String(): ec.Public(), testDev2.String(): ed.Public()} {
		d := testDev
		if dev == testDev2.String() {
			d = testDev2
		}
		k, err := r2.ResolveDeviceKey(ctx, d)
		if err != nil || k.Status != KeyActive || !equalPub(k.Key, want) {
			t.Fatalf("%s: %+v %v", dev, k, err)
		}
	}
	if _, err := r2.ResolveDeviceKey(ctx, iomt.MustParseDeviceID("1b7e3c2a-1d4f-4e6a-8b9c-7d2e1f0a3b4c")); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown: %v", err)
	}
	// Revoked keys are left out of the published set.
	r.Revoke(testDev)
	set, _ = r.MarshalJWKS()
	if strings.Contains(string(set), testDev.String()) {
		t.Fatal("revoked key published")
	}

	pubEC, _ := MarshalPublicJWK(ec.Public(), testDev)
	privEC, _ := MarshalPrivateJWK(ec, testDev)
	for name, doc := range map[string]string{
		"duplicate kid":  `{"keys":[` + string(pubEC) + `,` + string(pubEC) + `]}`,
		"private in set": `{"keys":[` + string(privEC) + `]}`,
		"not a set":      `{"kty":"EC"}`,
		"keys not array": `{"keys":{}}`,
		"bad member":     `{"keys":[{"kty":"EC","crv":"P-256"}]}`,
	} {
		if _, err := ParseJWKS([]byte(doc)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := r.Add(testDev, []byte("not a key")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Add of a non-key: %v", err)
	}
}

func TestGenerateKeyRejectsOtherAlgorithms(t *testing.T) {
	for _, a := range []Algorithm{"none", "HS256", "RS256", ""} {
		if _, err := GenerateKey(a, nil); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%q: %v", a, err)
		}
		if _, err := ParseAlgorithm(string(a)); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%q: %v", a, err)
		}
	}
}

func TestJWKStrictness(t *testing.T) {
	pub, _ := MarshalPublicJWK(testKey(t, EdDSA, "s").Public(), testDev)
	s := string(pub)
	for name, doc := range map[string]string{
		"duplicate x":   strings.Replace(s, `"kty":`, `"x":"AAAA","kty":`, 1),
		"duplicate kid": strings.Replace(s, `"kty":`, `"kid":"`+testDev2.String()+`","kty":`, 1),
		"x not string":  strings.Replace(s, `"use":"sig"`, `"use":1`, 1),
		"trailing":      s + `{}`,
		"rsa material":  strings.Replace(s, `"kty":`, `"p":"AQAB","kty":`, 1),
		"padded base64": strings.Replace(s, `","kid"`, `=","kid"`, 1),
		"OKP with y":    strings.Replace(s, `"kty":`, `"y":"AAAA","kty":`, 1),
		"X448":          strings.Replace(s, `"Ed25519"`, `"X25519"`, 1),
		"uppercase kty": strings.Replace(s, `"kty":"OKP"`, `"KTY":"OKP"`, 1),
		"short x":       strings.Replace(s, `"x":"`, `"x":"AA`, 1),
	} {
		if _, _, err := ParsePublicJWK([]byte(doc)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Unknown, harmless members (x5c, key_ops, ext) are tolerated.
	ok := strings.Replace(s, `"kty":`, `"key_ops":["verify"],"ext":true,"kty":`, 1)
	if _, _, err := ParsePublicJWK([]byte(ok)); err != nil {
		t.Errorf("harmless extra members: %v", err)
	}
}
