package provisioning_test

import (
	"crypto/ecdsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/openiomt/sdk/provisioning"
)

func tokenPair(t *testing.T, c *clock) (*provisioning.TokenIssuer, *provisioning.TokenVerifier, *ecdsa.PrivateKey) {
	t.Helper()
	key := newP256(t)
	iss, err := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: key, KeyID: "prov-1", Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := provisioning.NewTokenVerifier(provisioning.TokenVerifierConfig{Key: &key.PublicKey, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return iss, ver, key
}

func TestTokenRoundTrip(t *testing.T) {
	c := &clock{t0}
	iss, ver, _ := tokenPair(t, c)
	dev, pat := newDevice(t), newPatient(t)
	tok, claims, err := iss.Issue(dev, pat)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ver.Verify(tok, dev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Device != dev || got.Patient != pat || got.ID != claims.ID || !got.Expires.Equal(t0.Add(provisioning.DefaultTokenTTL)) {
		t.Fatalf("claims %+v, want %+v", got, claims)
	}
	_, c2, _ := iss.Issue(dev, pat)
	if c2.ID == claims.ID {
		t.Fatal("two tokens share an ID")
	}
}

func TestExpiredToken(t *testing.T) {
	c := &clock{t0}
	iss, ver, _ := tokenPair(t, c)
	dev := newDevice(t)
	tok, _, _ := iss.Issue(dev, newPatient(t))
	c.Advance(provisioning.DefaultTokenTTL + 2*time.Minute)
	_, err := ver.Verify(tok, dev)
	wantErr(t, err, provisioning.ErrExpired)
	// A token from the future (clock rolled back on the issuer) also fails.
	c.now = t0.Add(-10 * time.Minute)
	_, err = ver.Verify(tok, dev)
	wantErr(t, err, provisioning.ErrExpired)
}

func TestTokenForAnotherDevice(t *testing.T) {
	c := &clock{t0}
	iss, ver, _ := tokenPair(t, c)
	tok, _, _ := iss.Issue(newDevice(t), newPatient(t))
	_, err := ver.Verify(tok, newDevice(t))
	wantErr(t, err, provisioning.ErrDeviceMismatch)
}

func TestForgedToken(t *testing.T) {
	c := &clock{t0}
	_, ver, _ := tokenPair(t, c)
	forger, _, _ := tokenPair(t, c) // another key
	dev := newDevice(t)
	tok, _, _ := forger.Issue(dev, newPatient(t))
	_, err := ver.Verify(tok, dev)
	wantErr(t, err, provisioning.ErrBadSignature)
}

func TestTamperTokenClaims(t *testing.T) {
	c := &clock{t0}
	iss, ver, _ := tokenPair(t, c)
	dev := newDevice(t)
	tok, _, _ := iss.Issue(dev, newPatient(t))
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"exp":`, `"exp":9`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	_, err := ver.Verify(strings.Join(parts, "."), dev)
	wantErr(t, err, provisioning.ErrBadSignature)
}

func TestUnsignedToken(t *testing.T) {
	c := &clock{t0}
	iss, ver, _ := tokenPair(t, c)
	dev := newDevice(t)
	tok, _, _ := iss.Issue(dev, newPatient(t))
	parts := strings.Split(tok, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"iomt-enroll+jwt"}`))
	_, err := ver.Verify(none+"."+parts[1]+".", dev)
	wantErr(t, err, provisioning.ErrBadSignature)
	// HMAC keyed with the public key bytes (algorithm confusion).
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"iomt-enroll+jwt"}`))
	_, err = ver.Verify(hs+"."+parts[1]+".AAAA", dev)
	wantErr(t, err, provisioning.ErrBadSignature)
}

func TestTokenConfusedWithOtherJWT(t *testing.T) {
	c := &clock{t0}
	iss, ver, key := tokenPair(t, c)
	dev := newDevice(t)
	tok, _, _ := iss.Issue(dev, newPatient(t))
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	// Same key, same claims, but typ "JWT": another kind of token signed
	// by the same key must not enrol a device.
	other, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), key))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ver.Verify(string(other), dev)
	wantErr(t, err, provisioning.ErrMalformed)
}

func TestTokenLimits(t *testing.T) {
	c := &clock{t0}
	_, ver, _ := tokenPair(t, c)
	_, err := ver.Verify(strings.Repeat("a", provisioning.MaxTokenSize+1), newDevice(t))
	wantErr(t, err, provisioning.ErrTooLarge)
	_, err = ver.Verify("a.b", newDevice(t))
	wantErr(t, err, provisioning.ErrMalformed)
	if _, err := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: newP256(t), TTL: 48 * time.Hour}); err == nil {
		t.Fatal("TTL above MaxTokenTTL accepted")
	}
	if _, err := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{}); err == nil {
		t.Fatal("issuer without key accepted")
	}
}
