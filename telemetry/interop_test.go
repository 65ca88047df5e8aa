package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// The envelope must verify with any JOSE library given the device's public
// JWK. These tests use two independent implementations, go-jose/v4 and
// jwx/v3, each reading the public JWK this package writes.

func joseAlg(alg Algorithm) jose.SignatureAlgorithm {
	if alg == ES256 {
		return jose.ES256
	}
	return jose.EdDSA
}

func jwxAlg(alg Algorithm) jwa.SignatureAlgorithm {
	if alg == ES256 {
		return jwa.ES256()
	}
	return jwa.EdDSA()
}

func TestInteropGoJOSEVerifiesEnvelope(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			env := f.sign(t, testBP(testNow))
			pubJWK, err := MarshalPublicJWK(f.key.Public(), testDev)
			if err != nil {
				t.Fatal(err)
			}
			var k jose.JSONWebKey
			if err := json.Unmarshal(pubJWK, &k); err != nil {
				t.Fatal(err)
			}
			if k.KeyID != testDev.String() || !k.IsPublic() {
				t.Fatalf("go-jose read kid %q public %v", k.KeyID, k.IsPublic())
			}
			obj, err := jose.ParseSigned(string(env.Compact), []jose.SignatureAlgorithm{joseAlg(alg)})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := obj.Verify(k)
			if err != nil {
				t.Fatalf("go-jose rejects envelope: %v", err)
			}
			h := obj.Signatures[0].Protected
			if h.KeyID != testDev.String() || h.ExtraHeaders["typ"] != MediaType || h.Algorithm != string(alg) {
				t.Fatalf("header %+v", h)
			}
			want, _ := env.Payload.MarshalJSON()
			if !bytes.Equal(payload, want) {
				t.Fatalf("payload %s, want %s", payload, want)
			}
		})
	}
}

func TestInteropJWXVerifiesEnvelope(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			env := f.sign(t, testBP(testNow))
			pubJWK, err := MarshalPublicJWK(f.key.Public(), testDev)
			if err != nil {
				t.Fatal(err)
			}
			k, err := jwk.ParseKey(pubJWK)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := jws.Verify(env.Compact, jws.WithKey(jwxAlg(alg), k))
			if err != nil {
				t.Fatalf("jwx rejects envelope: %v", err)
			}
			if p, err := ParsePayload(payload); err != nil || p.Seq != env.Payload.Seq {
				t.Fatalf("payload %v %v", p, err)
			}
		})
	}
}

// payloadJSON is a well-formed payload a foreign producer might write.
func payloadJSON(seq string) []byte {
	return []byte(`{"v":1,"dev":"` + testDev.String() + `","pat":"` + testPat.String() + `","seq":` + seq +
		`,"ts":"2026-11-25T03:59:00.5Z","kind":"blood_pressure","data":{"sys":120.5,"dia":80,"unit":0,"status":0}}`)
}

func TestInteropGoJOSEEnvelopeAccepted(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			opts := (&jose.SignerOptions{}).WithType(MediaType).WithHeader("kid", testDev.String())
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: joseAlg(alg), Key: f.key}, opts)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := s.Sign(payloadJSON("7"))
			if err != nil {
				t.Fatal(err)
			}
			compact, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.verifier.Verify(context.Background(), []byte(compact))
			if err != nil {
				t.Fatalf("go-jose envelope rejected: %v", err)
			}
			if p.Seq != 7 {
				t.Fatalf("payload %+v", p)
			}
		})
	}
}

func TestInteropJWXEnvelopeAccepted(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			hdr := jws.NewHeaders()
			for k, v := range map[string]string{"kid": testDev.String(), "typ": MediaType} {
				if err := hdr.Set(k, v); err != nil {
					t.Fatal(err)
				}
			}
			compact, err := jws.Sign(payloadJSON("8"), jws.WithKey(jwxAlg(alg), f.key, jws.WithProtectedHeaders(hdr)))
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.verifier.Verify(context.Background(), compact)
			if err != nil {
				t.Fatalf("jwx envelope rejected: %v\n%s", err, compact)
			}
			if p.Seq != 8 {
				t.Fatalf("payload %+v", p)
			}
		})
	}
}

// TestInteropJWK: JWKs written here are read by go-jose and jwx (public
// and private), and JWKs they write are read here.
func TestInteropJWK(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			key := testKey(t, alg, "interop jwk")
			kid := testDev.String()

			// Ours → theirs.
			priv, _ := MarshalPrivateJWK(key, testDev)
			pub, _ := MarshalPublicJWK(key.Public(), testDev)
			for _, b := range [][]byte{priv, pub} {
				var jk jose.JSONWebKey
				if err := json.Unmarshal(b, &jk); err != nil || !jk.Valid() || jk.KeyID != kid || jk.Algorithm != string(alg) {
					t.Fatalf("go-jose reads %s: %v", b, err)
				}
				if _, err := jwk.ParseKey(b); err != nil {
					t.Fatalf("jwx reads %s: %v", b, err)
				}
			}
			var jk jose.JSONWebKey
			json.Unmarshal(priv, &jk)
			if !equalPub(jk.Public().Key, key.Public()) {
				t.Fatal("go-jose reads a different private key")
			}

			// Theirs → ours: go-jose.
			jpriv, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg), Use: "sig"})
			if err != nil {
				t.Fatal(err)
			}
			jpub, _ := json.Marshal(jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"})
			if k, dev, err := ParsePrivateJWK(jpriv); err != nil || dev != testDev || !equalPub(k.Public(), key.Public()) {
				t.Fatalf("go-jose private JWK %s: %v", jpriv, err)
			}
			if k, _, err := ParsePublicJWK(jpub); err != nil || !equalPub(k, key.Public()) {
				t.Fatalf("go-jose public JWK %s: %v", jpub, err)
			}

			// Theirs → ours: jwx.
			xk, err := jwk.Import(key)
			if err != nil {
				t.Fatal(err)
			}
			xk.Set(jwk.KeyIDKey, kid)
			xpriv, _ := json.Marshal(xk)
			xpk, _ := xk.PublicKey()
			xpub, _ := json.Marshal(xpk)
			if k, _, err := ParsePrivateJWK(xpriv); err != nil || !equalPub(k.Public(), key.Public()) {
				t.Fatalf("jwx private JWK %s: %v", xpriv, err)
			}
			if k, _, err := ParsePublicJWK(xpub); err != nil || !equalPub(k, key.Public()) {
				t.Fatalf("jwx public JWK %s: %v", xpub, err)
			}
			// And a jwx JWK set of public keys.
			set := jwk.NewSet()
			set.AddKey(xpk)
			xset, _ := json.Marshal(set)
			r, err := ParseJWKS(xset)
			if err != nil || r.Len() != 1 {
				t.Fatalf("jwx JWK set %s: %v", xset, err)
			}
		})
	}
}
