package provisioning_test

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

type pairingFixture struct {
	c       *clock
	prov    *ecdsa.PrivateKey // cloud provisioning key
	pairKey *ecdsa.PrivateKey // device pairing key
	dev     iomt.DeviceID
	sealer  *provisioning.PairingSealer
	opener  *provisioning.PairingOpener
}

func newPairingFixture(t *testing.T) *pairingFixture {
	t.Helper()
	f := &pairingFixture{c: &clock{t0}, prov: newP256(t), dev: newDevice(t)}
	var err error
	if f.pairKey, err = provisioning.GeneratePairingKey(nil); err != nil {
		t.Fatal(err)
	}
	if f.sealer, err = provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: f.prov, Now: f.c.Now}); err != nil {
		t.Fatal(err)
	}
	if f.opener, err = provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{
		PairingKey: f.pairKey, Trusted: &f.prov.PublicKey, Device: f.dev, Now: f.c.Now}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *pairingFixture) payload(t testing.TB, nonce []byte) provisioning.PairingPayload {
	return provisioning.PairingPayload{
		Device: f.dev, Nonce: nonce, SSID: "HomeNet", Passphrase: "correct horse battery", Security: provisioning.WiFiWPA2,
		Patient: newPatient(t), BrokerURL: "mqtts://broker.example:8883", EnrollmentURL: "https://enroll.example",
		EnrollmentToken: "header.payload.signature", ExpiresMinutes: 10,
	}
}

func TestPairingRoundTrip(t *testing.T) {
	f := newPairingFixture(t)
	s, err := f.opener.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := f.payload(t, s.Nonce())
	sealed, err := f.sealer.Seal(p, &f.pairKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("HomeNet")) || bytes.Contains(sealed, []byte(p.Patient.String())) {
		t.Fatal("sealed payload leaks plaintext")
	}
	got, err := s.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if got.Patient != p.Patient || got.SSID != p.SSID || got.Passphrase != p.Passphrase || got.EnrollmentToken != p.EnrollmentToken ||
		got.BrokerURL != p.BrokerURL || !got.IssuedAt.Equal(t0) || got.ExpiresMinutes != 10 {
		t.Fatalf("round trip changed the payload")
	}
	id := &provisioning.Identity{Device: f.dev}
	got.Apply(id)
	if id.Patient != p.Patient || id.BrokerURL != p.BrokerURL || id.EnrollmentURL != p.EnrollmentURL {
		t.Fatal("Apply did not record the pairing")
	}
}

// TestReplayPairingPayload: a payload recorded from an earlier pairing
// (stale nonce) or replayed into the same finished session is refused.
func TestReplayPairingPayload(t *testing.T) {
	f := newPairingFixture(t)
	s1, _ := f.opener.NewSession(nil)
	sealed, err := f.sealer.Seal(f.payload(t, s1.Nonce()), &f.pairKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Open(sealed); err != nil {
		t.Fatal(err)
	}
	_, err = s1.Open(sealed)
	wantErr(t, err, provisioning.ErrStaleNonce)
	s2, _ := f.opener.NewSession(nil)
	_, err = s2.Open(sealed)
	wantErr(t, err, provisioning.ErrStaleNonce)
}

func TestPairingPayloadForAnotherDevice(t *testing.T) {
	f := newPairingFixture(t)
	s, _ := f.opener.NewSession(nil)
	p := f.payload(t, s.Nonce())
	p.Device = newDevice(t) // addressed to another device, encrypted to ours
	sealed, err := f.sealer.Seal(p, &f.pairKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(sealed)
	wantErr(t, err, provisioning.ErrDeviceMismatch)
	// Encrypted to another device's pairing key: we cannot even decrypt.
	other, _ := provisioning.GeneratePairingKey(nil)
	sealed, _ = f.sealer.Seal(f.payload(t, s.Nonce()), &other.PublicKey)
	_, err = s.Open(sealed)
	wantErr(t, err, provisioning.ErrDecrypt)
}

func TestTamperPairingCiphertext(t *testing.T) {
	f := newPairingFixture(t)
	s, _ := f.opener.NewSession(nil)
	sealed, _ := f.sealer.Seal(f.payload(t, s.Nonce()), &f.pairKey.PublicKey)
	parts := bytes.Split(sealed, []byte("."))
	for i := 1; i < 5; i++ { // encrypted key, IV, ciphertext, tag
		if len(parts[i]) == 0 {
			continue
		}
		mod := bytes.Clone(sealed)
		off := bytes.Index(mod, parts[i]) + len(parts[i])/2
		if mod[off] == 'A' {
			mod[off] = 'B'
		} else {
			mod[off] = 'A'
		}
		_, err := s.Open(mod)
		if err == nil {
			t.Fatalf("tampered part %d accepted", i)
		}
	}
	// The session survives failed attempts and still opens the genuine one.
	if _, err := s.Open(sealed); err != nil {
		t.Fatalf("genuine payload after tampering: %v", err)
	}
}

// TestUnsignedPairingPayloadEncryptedToDevice: the pairing public key is not
// secret, so anyone can encrypt to it. Encryption alone must prove nothing.
func TestUnsignedPairingPayloadEncryptedToDevice(t *testing.T) {
	f := newPairingFixture(t)
	s, _ := f.opener.NewSession(nil)
	p := f.payload(t, s.Nonce())
	// The attacker learns the genuine claims' shape by sealing with his own
	// provisioning key, then strips or replaces the signature.
	evil := newP256(t)
	evilSealer, _ := provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: evil, Now: f.c.Now})
	sealedEvil, _ := evilSealer.Seal(p, &f.pairKey.PublicKey)
	_, err := s.Open(sealedEvil)
	wantErr(t, err, provisioning.ErrBadSignature)

	// Extract the claims and wrap them as alg "none" and as raw JSON.
	signed, err := jwe.Decrypt(sealedEvil, jwe.WithKey(jwa.ECDH_ES_A256KW(), f.pairKey))
	if err != nil {
		t.Fatal(err)
	}
	claims := strings.Split(string(signed), ".")[1]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"iomt-pairing+jws"}`)) + "." + claims + "."
	rawJSON, _ := base64.RawURLEncoding.DecodeString(claims)
	for name, inner := range map[string][]byte{"alg none": []byte(none), "bare JSON": rawJSON} {
		hdr := jwe.NewHeaders()
		_ = hdr.Set("cty", provisioning.PairingType)
		sealed, err := jwe.Encrypt(inner, jwe.WithKey(jwa.ECDH_ES_A256KW(), &f.pairKey.PublicKey),
			jwe.WithContentEncryption(jwa.A256GCM()), jwe.WithProtectedHeaders(hdr), jwe.WithCompact())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(sealed); err == nil {
			t.Fatalf("%s: unsigned payload accepted", name)
		}
	}
	// Signed by the right key but with typ of another object.
	other, _ := jws.Sign(rawJSON, jws.WithKey(jwa.ES256(), f.prov))
	sealed, _ := jwe.Encrypt(other, jwe.WithKey(jwa.ECDH_ES_A256KW(), &f.pairKey.PublicKey),
		jwe.WithContentEncryption(jwa.A256GCM()), jwe.WithCompact())
	if _, err := s.Open(sealed); err == nil {
		t.Fatal("payload without pairing content type accepted")
	}
}

func TestExpiredPairingPayload(t *testing.T) {
	f := newPairingFixture(t)
	s, _ := f.opener.NewSession(nil)
	sealed, _ := f.sealer.Seal(f.payload(t, s.Nonce()), &f.pairKey.PublicKey)
	f.c.Advance(13 * time.Minute) // 10 minutes validity + 2 minutes skew
	_, err := s.Open(sealed)
	wantErr(t, err, provisioning.ErrExpired)
}

func TestPairingValidation(t *testing.T) {
	f := newPairingFixture(t)
	nonce := make([]byte, 16)
	for name, mut := range map[string]func(*provisioning.PairingPayload){
		"short passphrase":   func(p *provisioning.PairingPayload) { p.Passphrase = "short" },
		"open with psk":      func(p *provisioning.PairingPayload) { p.Security = provisioning.WiFiOpen },
		"plain MQTT":         func(p *provisioning.PairingPayload) { p.BrokerURL = "mqtt://broker.example:1883" },
		"http enrolment":     func(p *provisioning.PairingPayload) { p.EnrollmentURL = "http://enroll.example" },
		"long SSID":          func(p *provisioning.PairingPayload) { p.SSID = strings.Repeat("s", 33) },
		"hour-long validity": func(p *provisioning.PairingPayload) { p.ExpiresMinutes = provisioning.MaxPairingMinutes + 1 },
		"no patient":         func(p *provisioning.PairingPayload) { p.Patient = iomt.PatientID{} },
		"short nonce":        func(p *provisioning.PairingPayload) { p.Nonce = nonce[:8] },
		"unknown security":   func(p *provisioning.PairingPayload) { p.Security = "wep" },
		"missing token":      func(p *provisioning.PairingPayload) { p.EnrollmentToken = "" },
	} {
		p := f.payload(t, nonce)
		mut(&p)
		if _, err := f.sealer.Seal(p, &f.pairKey.PublicKey); err == nil {
			t.Errorf("%s: sealed", name)
		}
	}
	s, _ := f.opener.NewSession(nil)
	_, err := s.Open(make([]byte, provisioning.MaxPairingSize+1))
	wantErr(t, err, provisioning.ErrTooLarge)
	_, err = s.Open([]byte("a.b.c"))
	wantErr(t, err, provisioning.ErrMalformed)
}

func TestPairingLogValueRedactsSecrets(t *testing.T) {
	f := newPairingFixture(t)
	p := f.payload(t, make([]byte, 16))
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("pairing", "payload", p)
	for _, secret := range []string{p.Passphrase, p.EnrollmentToken, p.SSID, p.Patient.String()} {
		if strings.Contains(b.String(), secret) {
			t.Fatalf("log leaks a secret field: %s", b.String())
		}
	}
}
