package enroll_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
	"github.com/openiomt/sdk/provisioning/registry/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	clock  *clock
	ca     *provisioning.CA
	reg    *memory.Registry
	tokens *provisioning.TokenIssuer
	srv    *httptest.Server
	roots  *x509.CertPool // trusts the server
}

func newFixture(t *testing.T, mut func(*enroll.ServerConfig)) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{now: time.Now()}}
	caKey := mustKey(t)
	caCert, err := provisioning.CreateRootCA(caKey, provisioning.CAOptions{Name: "test CA", Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if f.ca, err = provisioning.NewCA(caCert, caKey, nil, provisioning.CAConfig{Now: f.clock.Now, Validity: time.Hour}); err != nil {
		t.Fatal(err)
	}
	f.reg = memory.New(memory.Config{Now: f.clock.Now})
	provKey := mustKey(t)
	if f.tokens, err = provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: provKey, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	ver, err := provisioning.NewTokenVerifier(provisioning.TokenVerifierConfig{Key: &provKey.PublicKey, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := enroll.ServerConfig{CA: f.ca, Tokens: ver, Registry: f.reg, Now: f.clock.Now, RatePerMinute: 1000}
	if mut != nil {
		mut(&cfg)
	}
	h, err := enroll.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(h)
	f.srv.StartTLS() // generates the server certificate
	srvCert := f.srv.TLS.Certificates[0]
	f.srv.Close()
	f.srv = httptest.NewUnstartedServer(h)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(caCert)
	f.srv.TLS, err = provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{
		Certificate: srvCert, ClientCAs: clientCAs, Revocation: f.reg, OptionalClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	f.roots = x509.NewCertPool()
	f.roots.AddCert(f.srv.Certificate())
	return f
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// device registers a new device and returns its fresh identity.
func (f *fixture) device(t *testing.T) *provisioning.Identity {
	t.Helper()
	dev, _ := iomt.NewDeviceID(nil)
	if err := f.reg.Register(context.Background(), dev, nil); err != nil {
		t.Fatal(err)
	}
	key, _ := provisioning.GenerateKey(provisioning.ES256, nil)
	return &provisioning.Identity{Device: dev, Key: key}
}

func (f *fixture) token(t *testing.T, dev iomt.DeviceID) (string, iomt.PatientID) {
	t.Helper()
	pat, _ := iomt.NewPatientID(nil)
	tok, _, err := f.tokens.Issue(dev, pat)
	if err != nil {
		t.Fatal(err)
	}
	return tok, pat
}

// client returns an enrolment client; with id it presents id's certificate.
func (f *fixture) client(t *testing.T, id *provisioning.Identity) *enroll.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: f.roots, MinVersion: tls.VersionTLS12}
	if id != nil {
		var err error
		if cfg, err = provisioning.DeviceTLSConfig(id, f.roots, ""); err != nil {
			t.Fatal(err)
		}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &enroll.Client{BaseURL: f.srv.URL, HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func wantRefusal(t *testing.T, err error, code string, sentinel error) {
	t.Helper()
	var e *enroll.Error
	if !errors.As(err, &e) || e.Code != code || !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want code %s wrapping %v", err, code, sentinel)
	}
}

func TestEnrollAndRotate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	id := f.device(t)
	tok, pat := f.token(t, id.Device)
	if err := enroll.EnrollIdentity(ctx, f.client(t, nil), id, tok); err != nil {
		t.Fatalf("enrol: %v", err)
	}
	d, err := f.reg.Lookup(ctx, id.Device)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != provisioning.StatusActive || d.Patient != pat || d.CertSerial.Cmp(id.Chain[0].SerialNumber) != 0 {
		t.Fatalf("registry after enrolment: %v", d.Status)
	}
	old := &provisioning.Identity{Device: id.Device, Key: id.Key, Chain: id.Chain}
	// Rotate to a new Ed25519 key with the current certificate as proof.
	newKey, _ := provisioning.GenerateKey(provisioning.EdDSA, nil)
	if err := enroll.RotateIdentity(ctx, f.client(t, id), id, newKey); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if id.Chain[0].SerialNumber.Cmp(old.Chain[0].SerialNumber) == 0 {
		t.Fatal("rotation kept the serial")
	}
	d, _ = f.reg.Lookup(ctx, id.Device)
	if d.Patient != pat || d.CertSerial.Cmp(id.Chain[0].SerialNumber) != 0 {
		t.Fatal("rotation lost the binding or the new serial")
	}
	// TestReplay: the superseded certificate no longer opens a connection.
	csr, _ := provisioning.NewCSR(id.Device, old.Key, nil)
	if _, err := f.client(t, old).Reenroll(ctx, csr); err == nil {
		t.Fatal("superseded certificate re-enrolled")
	}
}

func TestReplayEnrollmentToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	id := f.device(t)
	tok, _ := f.token(t, id.Device)
	if err := enroll.EnrollIdentity(ctx, f.client(t, nil), id, tok); err != nil {
		t.Fatal(err)
	}
	// An eavesdropper (or the device after a crash) presents it again, even
	// with a fresh key.
	again := &provisioning.Identity{Device: id.Device, Key: mustKey(t)}
	err := enroll.EnrollIdentity(ctx, f.client(t, nil), again, tok)
	wantRefusal(t, err, enroll.CodeTokenReplayed, provisioning.ErrReplay)
}

func TestExpiredEnrollmentToken(t *testing.T) {
	f := newFixture(t, nil)
	id := f.device(t)
	tok, _ := f.token(t, id.Device)
	f.clock.Advance(provisioning.DefaultTokenTTL + 2*time.Minute)
	err := enroll.EnrollIdentity(context.Background(), f.client(t, nil), id, tok)
	wantRefusal(t, err, enroll.CodeTokenExpired, provisioning.ErrExpired)
}

func TestEnrollmentTokenForAnotherDevice(t *testing.T) {
	f := newFixture(t, nil)
	victim, attacker := f.device(t), f.device(t)
	tok, _ := f.token(t, victim.Device)
	err := enroll.EnrollIdentity(context.Background(), f.client(t, nil), attacker, tok)
	wantRefusal(t, err, enroll.CodeDeviceMismatch, provisioning.ErrDeviceMismatch)
	// The refused attempt did not burn the victim's token.
	if err := enroll.EnrollIdentity(context.Background(), f.client(t, nil), victim, tok); err != nil {
		t.Fatalf("victim's enrolment after the attack: %v", err)
	}
}

func TestForgedEnrollmentToken(t *testing.T) {
	f := newFixture(t, nil)
	id := f.device(t)
	forger, _ := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: mustKey(t), Now: f.clock.Now})
	pat, _ := iomt.NewPatientID(nil)
	tok, _, _ := forger.Issue(id.Device, pat)
	err := enroll.EnrollIdentity(context.Background(), f.client(t, nil), id, tok)
	wantRefusal(t, err, enroll.CodeTokenInvalid, provisioning.ErrBadSignature)
}

func TestEnrollUnregisteredDevice(t *testing.T) {
	f := newFixture(t, nil)
	dev, _ := iomt.NewDeviceID(nil)
	id := &provisioning.Identity{Device: dev, Key: mustKey(t)}
	tok, _ := f.token(t, dev)
	err := enroll.EnrollIdentity(context.Background(), f.client(t, nil), id, tok)
	wantRefusal(t, err, enroll.CodeUnknownDevice, provisioning.ErrUnknownDevice)
}

// TestImpersonationReenrolForAnotherDevice: an enrolled device uses its own
// certificate to ask for one naming another device.
func TestImpersonationReenrolForAnotherDevice(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	attacker, victim := f.device(t), f.device(t)
	tok, _ := f.token(t, attacker.Device)
	if err := enroll.EnrollIdentity(ctx, f.client(t, nil), attacker, tok); err != nil {
		t.Fatal(err)
	}
	csr, _ := provisioning.NewCSR(victim.Device, attacker.Key, nil)
	_, err := f.client(t, attacker).Reenroll(ctx, csr)
	wantRefusal(t, err, enroll.CodeDeviceMismatch, provisioning.ErrDeviceMismatch)
	// Without a client certificate at all.
	_, err = f.client(t, nil).Reenroll(ctx, csr)
	wantRefusal(t, err, enroll.CodeCertificateRequired, provisioning.ErrRevoked)
}

func TestRevokedDeviceReenrolling(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	id := f.device(t)
	tok, _ := f.token(t, id.Device)
	if err := enroll.EnrollIdentity(ctx, f.client(t, nil), id, tok); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Revoke(ctx, id.Device); err != nil {
		t.Fatal(err)
	}
	csr, _ := provisioning.NewCSR(id.Device, id.Key, nil)
	if _, err := f.client(t, id).Reenroll(ctx, csr); err == nil {
		t.Fatal("revoked device re-enrolled")
	}
	// A fresh token does not resurrect it either.
	tok, _ = f.token(t, id.Device)
	err := enroll.EnrollIdentity(ctx, f.client(t, nil), &provisioning.Identity{Device: id.Device, Key: mustKey(t)}, tok)
	wantRefusal(t, err, enroll.CodeRevoked, provisioning.ErrRevoked)
}

func TestEnrollRateLimit(t *testing.T) {
	f := newFixture(t, func(c *enroll.ServerConfig) { c.RatePerMinute = 3 })
	c := f.client(t, nil)
	var limited int
	for i := 0; i < 6; i++ {
		_, err := c.Enroll(context.Background(), "x", []byte("y"))
		var e *enroll.Error
		if errors.As(err, &e) && e.Code == enroll.CodeRateLimited {
			limited++
		}
	}
	if limited != 3 {
		t.Fatalf("%d of 6 requests rate limited, want 3", limited)
	}
	f.clock.Advance(time.Minute)
	_, err := c.Enroll(context.Background(), "x", []byte("y"))
	var e *enroll.Error
	if errors.As(err, &e) && e.Code == enroll.CodeRateLimited {
		t.Fatal("still limited after the bucket refilled")
	}
}

func TestEnrollRateLimitTableBounded(t *testing.T) {
	n := 0
	var mu sync.Mutex
	f := newFixture(t, func(c *enroll.ServerConfig) {
		c.RatePerMinute, c.MaxSources = 1, 2
		c.Source = func(*http.Request) string { mu.Lock(); defer mu.Unlock(); n++; return strings.Repeat("s", n) }
	})
	c := f.client(t, nil)
	var limited int
	for i := 0; i < 4; i++ {
		_, err := c.Enroll(context.Background(), "x", []byte("y"))
		var e *enroll.Error
		if errors.As(err, &e) && e.Code == enroll.CodeRateLimited {
			limited++
		}
	}
	if limited != 2 {
		t.Fatalf("%d new sources refused with a full table, want 2", limited)
	}
}

func TestEnrollBodyLimits(t *testing.T) {
	f := newFixture(t, nil)
	hc := f.client(t, nil).HTTPClient
	post := func(body []byte) (int, string) {
		resp, err := hc.Post(f.srv.URL+enroll.EnrollPath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	big := []byte(`{"token":"` + strings.Repeat("a", enroll.DefaultMaxBodyBytes) + `","csr":"AA=="}`)
	if st, code := post(big); st != http.StatusRequestEntityTooLarge || code != enroll.CodeTooLarge {
		t.Fatalf("oversize body: %d %s", st, code)
	}
	for _, body := range []string{`{`, `{"token":"a","csr":"!!"}`, `{"token":"a","csr":"AA==","extra":1}`, `[]`} {
		if st, code := post([]byte(body)); st != http.StatusBadRequest || code != enroll.CodeBadRequest {
			t.Fatalf("%s: %d %s", body, st, code)
		}
	}
	csr := base64.StdEncoding.EncodeToString([]byte("not a CSR"))
	if st, _ := post([]byte(`{"token":"a","csr":"` + csr + `"}`)); st != http.StatusBadRequest {
		t.Fatalf("garbage CSR: %d", st)
	}
	resp, err := hc.Get(f.srv.URL + enroll.EnrollPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

func TestClientRejectsPlainHTTP(t *testing.T) {
	c := &enroll.Client{BaseURL: "http://127.0.0.1:1"}
	if _, err := c.Enroll(context.Background(), "t", []byte{1}); err == nil {
		t.Fatal("plain HTTP accepted")
	}
}
