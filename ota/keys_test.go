package ota

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// oldMarshal is the encoder ota used before the shared codec: json.Marshal
// of a map (sorted members). The wire format must not change.
func oldMarshal(t *testing.T, k *PrivateKey, private bool) []byte {
	t.Helper()
	m := k.pub.members()
	if private {
		switch s := k.signer.(type) {
		case *ecdsa.PrivateKey:
			b, _ := s.Bytes()
			m["d"] = b64.EncodeToString(b)
		case ed25519.PrivateKey:
			m["d"] = b64.EncodeToString(s.Seed())
		}
	}
	m["kid"] = k.pub.id
	m["alg"] = k.pub.alg
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyWireFormatUnchanged: the JWKs ota writes are byte-identical to
// those of the encoder it used before.
func TestKeyWireFormatUnchanged(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		for i := 0; i < 20; i++ {
			k, err := GenerateKey(alg, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := k.Public().MarshalJSON()
			if err != nil || string(pub) != string(oldMarshal(t, k, false)) {
				t.Fatalf("%s public JWK changed: %s vs %s (%v)", alg, pub, oldMarshal(t, k, false), err)
			}
			priv, err := k.MarshalPrivateJWK()
			if err != nil || string(priv) != string(oldMarshal(t, k, true)) {
				t.Fatalf("%s private JWK changed (%v)", alg, err)
			}
		}
	}
}

// TestKeysFromOtherLibraries: JWKs written by jwx and go-jose (public and
// private) are read, with the same key ID.
func TestKeysFromOtherLibraries(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		k, err := GenerateKey(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var written [][]byte
		for _, raw := range []any{k.signer, k.pub.key} {
			jk, err := jwk.Import(raw)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(jk)
			if err != nil {
				t.Fatal(err)
			}
			jb, err := json.Marshal(jose.JSONWebKey{Key: raw, KeyID: "x", Algorithm: alg, Use: "sig"})
			if err != nil {
				t.Fatal(err)
			}
			written = append(written, b, jb)
		}
		for i, b := range written {
			p, err := ParsePublicKey(b)
			if err != nil || p.ID() != k.ID() || p.Algorithm() != alg {
				t.Fatalf("%s #%d %s: %v", alg, i, b, err)
			}
			if i < 2 { // private
				s, err := ParsePrivateKey(b)
				if err != nil || s.ID() != k.ID() {
					t.Fatalf("%s private #%d: %v", alg, i, err)
				}
			}
		}
	}
}

// TestKeyConfusionRejected: JWKs that are ambiguous or inconsistent —
// duplicate members, a private part that does not match the public one,
// a point off the curve, an alg that names the other key type, foreign
// secret material — are refused with ErrKey.
func TestKeyConfusionRejected(t *testing.T) {
	t.Parallel()
	e, _ := GenerateKey(AlgES256, rand.Reader)
	o, _ := GenerateKey(AlgES256, rand.Reader)
	ed, _ := GenerateKey(AlgEdDSA, rand.Reader)
	m := e.pub.members()
	ob, _ := o.signer.(*ecdsa.PrivateKey).Bytes()
	for name, bad := range map[string]string{
		"duplicate x":  `{"kty":"EC","crv":"P-256","x":"` + m["x"] + `","x":"` + m["x"] + `","y":"` + m["y"] + `"}`,
		"mismatch":     `{"kty":"EC","crv":"P-256","x":"` + m["x"] + `","y":"` + m["y"] + `","d":"` + b64.EncodeToString(ob) + `"}`,
		"off curve":    `{"kty":"EC","crv":"P-256","x":"` + m["x"] + `","y":"` + m["x"] + `"}`,
		"alg mismatch": `{"kty":"EC","crv":"P-256","alg":"EdDSA","x":"` + m["x"] + `","y":"` + m["y"] + `"}`,
		"foreign k":    `{"kty":"OKP","crv":"Ed25519","k":"AAAA","x":"` + ed.pub.members()["x"] + `"}`,
		"short x":      `{"kty":"OKP","crv":"Ed25519","x":"AAAA"}`,
		"trailing":     `{"kty":"OKP","crv":"Ed25519","x":"` + ed.pub.members()["x"] + `"} {}`,
	} {
		if _, err := ParsePublicKey([]byte(bad)); !errors.Is(err, ErrKey) {
			t.Errorf("%s: ParsePublicKey: %v", name, err)
		}
		if _, err := ParsePrivateKey([]byte(bad)); !errors.Is(err, ErrKey) {
			t.Errorf("%s: ParsePrivateKey: %v", name, err)
		}
	}
	big := make([]byte, MaxRootBytes+1)
	var le *LimitError
	if _, err := ParsePublicKey(big); !errors.As(err, &le) {
		t.Errorf("oversize: %v", err)
	}
}
