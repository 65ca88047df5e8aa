package enroll_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
	"github.com/openiomt/sdk/provisioning/registry/memory"
)

// Secrets the pairing tests send; none may appear in logs or error answers.
const (
	testSSID       = "HomeNet-7f3a"
	testPassphrase = "correct-horse-battery-staple"
)

type pairingFixture struct {
	clock    *clock
	reg      *memory.Registry
	provKey  *ecdsa.PrivateKey
	handler  *enroll.PairingHandler
	log      *bytes.Buffer
	sessions map[string]iomt.PatientID // bearer token → patient
	issued   []iomt.DeviceID
}

func newPairingFixture(t *testing.T, mut func(*enroll.PairingHandlerConfig)) *pairingFixture {
	t.Helper()
	f := &pairingFixture{clock: &clock{now: time.Now()}, log: &bytes.Buffer{}, sessions: map[string]iomt.PatientID{}}
	f.reg = memory.New(memory.Config{Now: f.clock.Now})
	f.provKey = mustKey(t)
	tokens, err := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: f.provKey, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: f.provKey, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := enroll.PairingHandlerConfig{
		Registry: f.reg, Tokens: tokens, Sealer: sealer,
		Authenticate: func(r *http.Request) (iomt.PatientID, error) {
			tok, ok := enroll.BearerToken(r)
			if p, known := f.sessions[tok]; ok && known {
				return p, nil
			}
			return iomt.PatientID{}, errors.New("no session")
		},
		BrokerURL: "mqtts://broker.test:8883", EnrollmentURL: "https://api.test",
		Logger: slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    f.clock.Now, RatePerMinute: 1000,
		OnIssued: func(_ context.Context, d iomt.DeviceID) { f.issued = append(f.issued, d) },
	}
	if mut != nil {
		mut(&cfg)
	}
	if f.handler, err = enroll.NewPairingHandler(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// monitor registers a device with a pairing key and returns its opener.
func (f *pairingFixture) monitor(t *testing.T) (iomt.DeviceID, *provisioning.PairingOpener) {
	t.Helper()
	dev, err := iomt.NewDeviceID(nil)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := provisioning.GeneratePairingKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Register(context.Background(), dev, &pk.PublicKey); err != nil {
		t.Fatal(err)
	}
	o, err := provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{PairingKey: pk, Trusted: &f.provKey.PublicKey,
		Device: dev, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return dev, o
}

// patient opens a session and returns its bearer token and patient.
func (f *pairingFixture) patient(t *testing.T) (string, iomt.PatientID) {
	t.Helper()
	p, err := iomt.NewPatientID(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := "session-" + p.String()
	f.sessions[tok] = p
	return tok, p
}

func pairingBody(dev iomt.DeviceID, nonce []byte) map[string]any {
	return map[string]any{"device_id": dev, "nonce": nonce, "ssid": testSSID, "passphrase": testPassphrase, "security": "wpa2-psk"}
}

func (f *pairingFixture) post(t *testing.T, bearer string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	r := httptest.NewRequest(http.MethodPost, enroll.PairingPath, bytes.NewReader(b))
	r.RemoteAddr = "192.0.2.1:1234"
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("answer %d without Cache-Control: no-store", w.Code)
	}
	if s := w.Body.String(); strings.Contains(s, testPassphrase) || strings.Contains(s, testSSID) {
		t.Errorf("answer %d echoes a Wi-Fi secret: %s", w.Code, s)
	}
	return w
}

func wantPairingRefusal(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("answer %d is not a JSON error: %q", w.Code, w.Body.String())
	}
	if w.Code != status || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("answer %d %q, want %d %q", w.Code, e.Error.Code, status, code)
	}
}

func sealedOf(t *testing.T, w *httptest.ResponseRecorder) []byte {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("answer %d: %s", w.Code, w.Body.String())
	}
	var out struct{ Sealed []byte }
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Sealed) == 0 {
		t.Fatalf("answer without sealed payload: %v", err)
	}
	return out.Sealed
}

func TestPairingIssuesSealedPayloadForTheDevice(t *testing.T) {
	f := newPairingFixture(t, nil)
	dev, opener := f.monitor(t)
	bearer, pat := f.patient(t)
	sess, err := opener.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealedOf(t, f.post(t, bearer, pairingBody(dev, sess.Nonce())))
	p, err := sess.Open(sealed)
	if err != nil {
		t.Fatalf("device cannot open the payload: %v", err)
	}
	if p.Patient != pat || p.SSID != testSSID || p.Passphrase != testPassphrase || p.BrokerURL != "mqtts://broker.test:8883" ||
		p.EnrollmentURL != "https://api.test" || p.ExpiresMinutes != 10 {
		t.Fatalf("payload fields wrong: %v", p)
	}
	ver, err := provisioning.NewTokenVerifier(provisioning.TokenVerifierConfig{Key: &f.provKey.PublicKey, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := ver.Verify(p.EnrollmentToken, dev)
	if err != nil || claims.Patient != pat {
		t.Fatalf("enrolment token: %v, patient match %v", err, claims.Patient == pat)
	}
	if len(f.issued) != 1 || f.issued[0] != dev {
		t.Fatalf("OnIssued calls %v", f.issued)
	}
	// The same patient may pair its own monitor again (new phone, new Wi-Fi).
	if err := f.reg.Activate(context.Background(), provisioning.Enrollment{Device: dev, Patient: pat, PublicKey: &mustKey(t).PublicKey,
		CertSerial: claimsSerial(), CertNotAfter: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	sess2, _ := opener.NewSession(nil)
	sealedOf(t, f.post(t, bearer, pairingBody(dev, sess2.Nonce())))
}

// TestImpersonationPairingDeviceBoundToAnotherPatient: a second patient
// cannot obtain a token for — and so re-bind — someone else's monitor.
func TestImpersonationPairingDeviceBoundToAnotherPatient(t *testing.T) {
	f := newPairingFixture(t, nil)
	dev, opener := f.monitor(t)
	_, alice := f.patient(t)
	mallory, _ := f.patient(t)
	if err := f.reg.Activate(context.Background(), provisioning.Enrollment{Device: dev, Patient: alice, PublicKey: &mustKey(t).PublicKey,
		CertSerial: claimsSerial(), CertNotAfter: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	sess, _ := opener.NewSession(nil)
	wantPairingRefusal(t, f.post(t, mallory, pairingBody(dev, sess.Nonce())), http.StatusConflict, enroll.CodeDeviceBound)
	if len(f.issued) != 0 {
		t.Fatal("a payload was issued")
	}
}

func TestPairingWithoutPatientSessionRefused(t *testing.T) {
	f := newPairingFixture(t, nil)
	dev, opener := f.monitor(t)
	sess, _ := opener.NewSession(nil)
	for _, bearer := range []string{"", "forged-session", strings.Repeat("x", enroll.MaxBearerToken)} {
		wantPairingRefusal(t, f.post(t, bearer, pairingBody(dev, sess.Nonce())), http.StatusUnauthorized, enroll.CodeUnauthenticated)
	}
}

// TestReplayPairingRequest: a recorded pairing request sent again does not
// yield a second payload (and token) for the same device nonce.
func TestReplayPairingRequest(t *testing.T) {
	f := newPairingFixture(t, nil)
	dev, opener := f.monitor(t)
	bearer, _ := f.patient(t)
	sess, _ := opener.NewSession(nil)
	body := pairingBody(dev, sess.Nonce())
	sealedOf(t, f.post(t, bearer, body))
	wantPairingRefusal(t, f.post(t, bearer, body), http.StatusConflict, enroll.CodeNonceReplayed)
	// Once the payload it answered has expired, the nonce is forgotten
	// (the device's session has long moved on).
	f.clock.Advance(enroll.DefaultPairingTTL + time.Second)
	sealedOf(t, f.post(t, bearer, body))
}

func TestPairingUnknownRevokedAndKeylessDevicesRefused(t *testing.T) {
	f := newPairingFixture(t, nil)
	bearer, _ := f.patient(t)
	nonce := bytes.Repeat([]byte{7}, 16)
	unknown, _ := iomt.NewDeviceID(nil)
	wantPairingRefusal(t, f.post(t, bearer, pairingBody(unknown, nonce)), http.StatusForbidden, enroll.CodeUnknownDevice)
	keyless, _ := iomt.NewDeviceID(nil)
	if err := f.reg.Register(context.Background(), keyless, nil); err != nil {
		t.Fatal(err)
	}
	wantPairingRefusal(t, f.post(t, bearer, pairingBody(keyless, nonce)), http.StatusForbidden, enroll.CodeUnknownDevice)
	revoked, _ := f.monitor(t)
	if err := f.reg.Revoke(context.Background(), revoked); err != nil {
		t.Fatal(err)
	}
	wantPairingRefusal(t, f.post(t, bearer, pairingBody(revoked, nonce)), http.StatusForbidden, enroll.CodeRevoked)
}

func TestPairingOversizedBodyRefused(t *testing.T) {
	f := newPairingFixture(t, nil)
	dev, _ := f.monitor(t)
	bearer, _ := f.patient(t)
	body := pairingBody(dev, bytes.Repeat([]byte{1}, 16))
	body["ssid"] = strings.Repeat("A", enroll.DefaultMaxPairingBody)
	wantPairingRefusal(t, f.post(t, bearer, body), http.StatusRequestEntityTooLarge, enroll.CodeTooLarge)
}

func TestPairingMalformedBodiesRefused(t *testing.T) {
	f := newPairingFixture(t, nil)
	dev, _ := f.monitor(t)
	bearer, _ := f.patient(t)
	good := func() map[string]any { return pairingBody(dev, bytes.Repeat([]byte{1}, 16)) }
	with := func(k string, v any) map[string]any { m := good(); m[k] = v; return m }
	without := func(k string) map[string]any { m := good(); delete(m, k); return m }
	valid, _ := json.Marshal(good())
	for name, body := range map[string]any{
		"not JSON":          "{device_id:",
		"empty":             "",
		"array":             "[]",
		"trailing data":     string(valid) + `{"x":1}`,
		"unknown field":     with("patient_id", "00000000-0000-4000-8000-000000000000"),
		"no device":         without("device_id"),
		"bad device":        with("device_id", "not-a-uuid"),
		"no nonce":          without("nonce"),
		"short nonce":       with("nonce", base64.StdEncoding.EncodeToString(make([]byte, 8))),
		"long nonce":        with("nonce", base64.StdEncoding.EncodeToString(make([]byte, 65))),
		"nonce not base64":  with("nonce", "!!!!"),
		"no ssid":           without("ssid"),
		"long ssid":         with("ssid", strings.Repeat("s", 33)),
		"short passphrase":  with("passphrase", "short"),
		"unknown security":  with("security", "wep"),
		"open with psk":     with("security", "open"),
		"passphrase number": with("passphrase", 12345678),
	} {
		t.Run(name, func(t *testing.T) {
			wantPairingRefusal(t, f.post(t, bearer, body), http.StatusBadRequest, enroll.CodeBadRequest)
		})
	}
	if len(f.issued) != 0 {
		t.Fatalf("%d payloads issued for malformed requests", len(f.issued))
	}
	// A refused payload does not burn the device's nonce.
	sealedOf(t, f.post(t, bearer, good()))
}

func TestPairingRateLimit(t *testing.T) {
	f := newPairingFixture(t, func(c *enroll.PairingHandlerConfig) { c.RatePerMinute = 2 })
	for range 2 {
		wantPairingRefusal(t, f.post(t, "", "{}"), http.StatusUnauthorized, enroll.CodeUnauthenticated)
	}
	w := f.post(t, "", "{}")
	wantPairingRefusal(t, w, http.StatusTooManyRequests, enroll.CodeRateLimited)
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	f.clock.Advance(time.Minute)
	wantPairingRefusal(t, f.post(t, "", "{}"), http.StatusUnauthorized, enroll.CodeUnauthenticated)
}

func TestPairingNonceTableBounded(t *testing.T) {
	f := newPairingFixture(t, func(c *enroll.PairingHandlerConfig) { c.MaxPendingNonces = 2 })
	dev, _ := f.monitor(t)
	bearer, _ := f.patient(t)
	for i := range 2 {
		sealedOf(t, f.post(t, bearer, pairingBody(dev, bytes.Repeat([]byte{byte(i)}, 16))))
	}
	wantPairingRefusal(t, f.post(t, bearer, pairingBody(dev, bytes.Repeat([]byte{9}, 16))), http.StatusTooManyRequests, enroll.CodeRateLimited)
	f.clock.Advance(enroll.DefaultPairingTTL)
	sealedOf(t, f.post(t, bearer, pairingBody(dev, bytes.Repeat([]byte{9}, 16))))
}

// TestPairingSecretsNeverLogged runs accepted and refused pairings and
// checks that the log holds no Wi-Fi credential, nonce, token or patient.
func TestPairingSecretsNeverLogged(t *testing.T) {
	f := newPairingFixture(t, nil)
	dev, opener := f.monitor(t)
	bearer, pat := f.patient(t)
	sess, _ := opener.NewSession(nil)
	body := pairingBody(dev, sess.Nonce())
	sealed := sealedOf(t, f.post(t, bearer, body))
	p, err := sess.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	f.post(t, bearer, body)                                                      // replay
	f.post(t, "nope", body)                                                      // no session
	f.post(t, bearer, map[string]any{"x": testPassphrase})                       // unknown field
	f.post(t, bearer, strings.Replace(mustJSON(body), `"wpa2-psk"`, `"wep"`, 1)) // invalid security
	other, _ := f.patient(t)
	f.post(t, other, pairingBody(dev, bytes.Repeat([]byte{3}, 16))) // not bound yet: accepted for other
	logs := f.log.String()
	for name, secret := range map[string]string{
		"passphrase": testPassphrase, "ssid": testSSID, "token": p.EnrollmentToken, "patient": pat.String(),
		"nonce": base64.StdEncoding.EncodeToString(sess.Nonce()), "bearer": bearer,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds the %s", name)
		}
	}
	if !strings.Contains(logs, dev.String()) || !strings.Contains(logs, enroll.CodeNonceReplayed) {
		t.Fatalf("log lacks the device or the refusal code:\n%s", logs)
	}
}

func TestPairingOnlyPost(t *testing.T) {
	f := newPairingFixture(t, nil)
	r := httptest.NewRequest(http.MethodGet, enroll.PairingPath, nil)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
		t.Fatalf("GET answered %d", w.Code)
	}
}

func TestNewPairingHandlerRefusesIncompleteConfig(t *testing.T) {
	f := newPairingFixture(t, nil)
	_ = f
	for name, mut := range map[string]func(*enroll.PairingHandlerConfig){
		"no registry":     func(c *enroll.PairingHandlerConfig) { c.Registry = nil },
		"no auth":         func(c *enroll.PairingHandlerConfig) { c.Authenticate = nil },
		"no broker":       func(c *enroll.PairingHandlerConfig) { c.BrokerURL = "" },
		"ttl too long":    func(c *enroll.PairingHandlerConfig) { c.TTL = 2 * time.Hour },
		"ttl not minutes": func(c *enroll.PairingHandlerConfig) { c.TTL = 90 * time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			newPairingFixtureExpectError(t, mut)
		})
	}
}

func newPairingFixtureExpectError(t *testing.T, mut func(*enroll.PairingHandlerConfig)) {
	t.Helper()
	key := mustKey(t)
	tokens, _ := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: key})
	sealer, _ := provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: key})
	cfg := enroll.PairingHandlerConfig{Registry: memory.New(memory.Config{}), Tokens: tokens, Sealer: sealer,
		Authenticate: func(*http.Request) (iomt.PatientID, error) { return iomt.PatientID{}, nil },
		BrokerURL:    "mqtts://b.test", EnrollmentURL: "https://e.test"}
	mut(&cfg)
	if _, err := enroll.NewPairingHandler(cfg); err == nil {
		t.Fatal("config accepted")
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func claimsSerial() *big.Int {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func TestRequestPairingClient(t *testing.T) {
	f := newPairingFixture(t, nil)
	srv := httptest.NewTLSServer(f.handler)
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()
	c := &enroll.Client{BaseURL: srv.URL, HTTPClient: hc}
	ctx := context.Background()
	dev, opener := f.monitor(t)
	bearer, pat := f.patient(t)
	sess, _ := opener.NewSession(nil)
	req := enroll.PairingRequest{Device: dev, Nonce: sess.Nonce(), SSID: testSSID, Passphrase: testPassphrase, Security: provisioning.WiFiWPA2}
	sealed, err := c.RequestPairing(ctx, bearer, req)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := sess.Open(sealed); err != nil || p.Patient != pat {
		t.Fatalf("open: %v", err)
	}
	var e *enroll.Error
	if _, err := c.RequestPairing(ctx, bearer, req); !errors.Is(err, provisioning.ErrReplay) || !errors.As(err, &e) || e.Status != http.StatusConflict {
		t.Fatalf("replay: %v", err)
	}
	if _, err := c.RequestPairing(ctx, "forged", req); !errors.Is(err, enroll.ErrUnauthenticated) {
		t.Fatalf("forged session: %v", err)
	}
	if err := f.reg.Activate(ctx, provisioning.Enrollment{Device: dev, Patient: pat, PublicKey: &mustKey(t).PublicKey,
		CertSerial: claimsSerial(), CertNotAfter: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mallory, _ := f.patient(t)
	req.Nonce = bytes.Repeat([]byte{5}, 16)
	_, err = c.RequestPairing(ctx, mallory, req)
	if !errors.Is(err, enroll.ErrDeviceBound) {
		t.Fatalf("other patient's device: %v", err)
	}
	if strings.Contains(err.Error(), testPassphrase) {
		t.Fatal("error echoes the passphrase")
	}
	plain := &enroll.Client{BaseURL: strings.Replace(srv.URL, "https", "http", 1), HTTPClient: hc}
	if _, err := plain.RequestPairing(ctx, bearer, req); err == nil {
		t.Fatal("Wi-Fi passphrase sent over plain HTTP")
	}
	if got := slogValue(req); strings.Contains(got, testPassphrase) || strings.Contains(got, testSSID) {
		t.Fatalf("PairingRequest logs its secrets: %s", got)
	}
}

// slogValue renders v as a JSON log line.
func slogValue(v any) string {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "v", v)
	return b.String()
}
