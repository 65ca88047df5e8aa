package ota

import (
	"bytes"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestInteropGoJOSE checks the JWS JSON general serialization against an
// independent JOSE library, both ways.
func TestInteropGoJOSE(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 2, 2)
	img := testImage(1000, 1)
	signed := f.sign(manifestFor(img))
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

	// go-jose verifies every signature we made with the public JWKs.
	obj, err := jose.ParseSignedJSON(string(signed), algs)
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Signatures) != 2 {
		t.Fatalf("%d signatures", len(obj.Signatures))
	}
	for _, k := range f.targetKeys {
		pub, _ := k.Public().MarshalJSON()
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(pub, &jwk); err != nil {
			t.Fatal(err)
		}
		_, sig, payload, err := obj.VerifyMulti(jwk)
		if err != nil || sig.Protected.KeyID != k.ID() {
			t.Fatalf("go-jose: %v", err)
		}
		if _, err := ParseManifestUnverified(signed); err != nil || len(payload) == 0 {
			t.Fatal(err)
		}
	}

	// A manifest signed by go-jose with both targets keys passes our Verifier.
	payload, _ := json.Marshal(manifestFor(img))
	var sks []jose.SigningKey
	for _, k := range f.targetKeys {
		alg := jose.ES256
		if k.Public().Algorithm() == AlgEdDSA {
			alg = jose.EdDSA
		}
		sks = append(sks, jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k.signer, KeyID: k.ID()}})
	}
	signer, err := jose.NewMultiSigner(sks, (&jose.SignerOptions{}).WithType(TypeManifest))
	if err != nil {
		t.Fatal(err)
	}
	js, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	v := f.verifier(0, 0)
	if _, err := v.VerifyManifest([]byte(js.FullSerialize())); err != nil {
		t.Fatalf("go-jose-signed manifest: %v", err)
	}
	if err := v.VerifyImage(bytes.NewReader(img), nil); err != nil {
		t.Fatal(err)
	}
}
