package enroll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

// PairingPath is the route of [PairingHandler].
const PairingPath = "/v1/pairings"

// Defaults and limits of [PairingHandlerConfig].
const (
	// DefaultMaxPairingBody bounds a pairing request body.
	DefaultMaxPairingBody = 4 << 10
	// DefaultPairingTTL is the validity of a sealed pairing payload.
	DefaultPairingTTL = 10 * time.Minute
	// DefaultMaxPendingNonces bounds the table of pairing nonces already
	// answered (the replay guard).
	DefaultMaxPendingNonces = 10000
	// MaxBearerToken bounds the Authorization header [BearerToken] accepts.
	MaxBearerToken = 512
)

// More error codes, answered by [PairingHandler] only.
const (
	// CodeUnauthenticated: no or no valid patient session.
	CodeUnauthenticated = "unauthenticated"
	// CodeDeviceBound: the device is bound to another patient.
	CodeDeviceBound = "device_bound"
	// CodeNonceReplayed: a pairing for this device and nonce was already
	// answered.
	CodeNonceReplayed = "nonce_replayed"
)

// ErrUnauthenticated reports a pairing request without a valid patient
// session.
var ErrUnauthenticated = errors.New("enroll: patient session required")

// ErrDeviceBound reports a pairing request for a device bound to another
// patient: the impersonation of someone else's monitor.
var ErrDeviceBound = errors.New("enroll: device bound to another patient")

// PairingRegistry is what [PairingHandler] needs of the device registry;
// every provisioning.Registry implementation satisfies it.
type PairingRegistry interface {
	Lookup(ctx context.Context, device iomt.DeviceID) (provisioning.Device, error)
}

// PairingHandlerConfig configures [NewPairingHandler]. Registry, Tokens,
// Sealer, Authenticate, BrokerURL and EnrollmentURL are required; the zero
// value of every other field has the documented default.
type PairingHandlerConfig struct {
	// Registry says whether the device exists, its pairing key and its
	// binding.
	Registry PairingRegistry
	// Tokens issues the single-use enrolment token put into the payload.
	Tokens *provisioning.TokenIssuer
	// Sealer signs the payload and encrypts it to the device's pairing
	// key.
	Sealer *provisioning.PairingSealer
	// Authenticate returns the patient the request is made for (e.g. from
	// a bearer session token, see [BearerToken]); an error or a zero
	// patient refuses the request with 401. It must not trust anything in
	// the request body.
	Authenticate func(*http.Request) (iomt.PatientID, error)
	// BrokerURL (mqtts) and EnrollmentURL (https) go into the payload.
	BrokerURL, EnrollmentURL string
	// TTL is the payload's validity, whole minutes from 1 to
	// provisioning.MaxPairingMinutes; zero means DefaultPairingTTL.
	TTL time.Duration
	// Logger receives one record per refused or answered request (code,
	// stage, device UUID; never the patient, nonce, Wi-Fi credentials or
	// token). Nil discards.
	Logger *slog.Logger
	// MaxBodyBytes bounds the request body; zero means
	// DefaultMaxPairingBody.
	MaxBodyBytes int64
	// RatePerMinute, MaxSources and Source rate-limit requests per source
	// exactly as in [ServerConfig], with the same defaults.
	RatePerMinute int
	MaxSources    int
	Source        func(*http.Request) string
	// MaxPendingNonces bounds the replay guard; zero means
	// DefaultMaxPendingNonces. When it is full of unexpired nonces new
	// pairings are refused with 429 (fail closed).
	MaxPendingNonces int
	// RequestTimeout bounds the registry work of one request; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// OnIssued, when set, is called after a payload was sealed for device
	// (e.g. to tell an operator story); it must not block.
	OnIssued func(ctx context.Context, device iomt.DeviceID)
}

// PairingHandler is the cloud end of pairing, an http.Handler for
// POST [PairingPath]: the phone app of a logged-in patient sends the
// monitor's device UUID and one-time nonce (read over Bluetooth) with the
// Wi-Fi credentials,
//
//	{"device_id": UUID, "nonce": base64, "ssid": "...", "passphrase": "...", "security": "wpa2-psk"}
//
// and receives {"sealed": base64} — a pairing payload with a fresh
// single-use enrolment token for exactly this device and patient, signed
// by the provisioning key and encrypted to the device's registered pairing
// key, which the phone hands to the monitor in BLE frames.
//
// Checks, in order: the per-source rate limit, the patient session, a
// bounded strict JSON body (unknown fields and trailing data refused), the
// registry (device registered with a pairing key, not revoked or
// decommissioned, unbound or already bound to this patient) and the
// replay guard (a device/nonce pair is answered once while its payload
// could be valid). The replay guard is in memory, per handler; with several
// instances behind a load balancer the device's own single-use pairing
// session (provisioning.PairingSession) remains the final guard.
//
// Errors answer {"error": {"code": code, "message": text}} with a fixed
// text per code — never a value from the request — and the HTTP status of
// the code (see [Error]). Every answer carries Cache-Control: no-store.
// A PairingHandler is safe for concurrent use.
type PairingHandler struct {
	cfg    PairingHandlerConfig
	lim    *limiter
	nonces *nonceGuard
	ttlMin int
}

// NewPairingHandler validates cfg and returns a handler using a copy of it.
func NewPairingHandler(cfg PairingHandlerConfig) (*PairingHandler, error) {
	if cfg.Registry == nil || cfg.Tokens == nil || cfg.Sealer == nil || cfg.Authenticate == nil {
		return nil, errors.New("enroll: pairing handler: Registry, Tokens, Sealer and Authenticate are required")
	}
	if cfg.BrokerURL == "" || cfg.EnrollmentURL == "" {
		return nil, errors.New("enroll: pairing handler: BrokerURL and EnrollmentURL are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultPairingTTL
	}
	if cfg.TTL%time.Minute != 0 || cfg.TTL < time.Minute || cfg.TTL > provisioning.MaxPairingMinutes*time.Minute {
		return nil, errors.New("enroll: pairing handler: TTL must be whole minutes within provisioning.MaxPairingMinutes")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxPairingBody
	}
	if cfg.RatePerMinute <= 0 {
		cfg.RatePerMinute = DefaultRatePerMinute
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.Source == nil {
		cfg.Source = remoteIP
	}
	if cfg.MaxPendingNonces <= 0 {
		cfg.MaxPendingNonces = DefaultMaxPendingNonces
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &PairingHandler{cfg: cfg, lim: newLimiter(cfg.RatePerMinute, cfg.MaxSources, cfg.Now),
		nonces: &nonceGuard{max: cfg.MaxPendingNonces, seen: make(map[[32]byte]time.Time)},
		ttlMin: int(cfg.TTL / time.Minute)}, nil
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, refusing headers longer than MaxBearerToken.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || len(h) > MaxBearerToken || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return h[len(p):], true
}

// PairingRequest is the body of a pairing request, sent by the phone app
// ([Client.RequestPairing]) and read by [PairingHandler]. Nonce is standard
// base64 in JSON. It holds the Wi-Fi passphrase, so it implements
// slog.LogValuer to log the device only.
type PairingRequest struct {
	// Device is the monitor's UUID, read over Bluetooth.
	Device iomt.DeviceID `json:"device_id"`
	// Nonce is the one-time nonce of the device's pairing session.
	Nonce []byte `json:"nonce"`
	// SSID, Passphrase and Security configure the device's Wi-Fi.
	SSID       string                    `json:"ssid"`
	Passphrase string                    `json:"passphrase"`
	Security   provisioning.WiFiSecurity `json:"security"`
}

// LogValue implements slog.LogValuer without the Wi-Fi settings or nonce.
func (p PairingRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device", p.Device.String()))
}

type pairingResponse struct {
	Sealed []byte `json:"sealed"`
}

// pairingFailure is a refusal: the code and, for bad requests, the name of
// the offending field (never its value).
type pairingFailure struct {
	code, field, stage string
}

// decodePairingRequest parses a body already bounded by the caller.
func decodePairingRequest(body []byte) (PairingRequest, *pairingFailure) {
	var req PairingRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, &pairingFailure{code: CodeBadRequest, stage: "request"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, &pairingFailure{code: CodeBadRequest, stage: "request"}
	}
	if req.Device.IsZero() {
		return req, &pairingFailure{code: CodeBadRequest, field: "device_id", stage: "request"}
	}
	if len(req.Nonce) < 16 || len(req.Nonce) > 64 {
		return req, &pairingFailure{code: CodeBadRequest, field: "nonce", stage: "request"}
	}
	return req, nil
}

// ServeHTTP implements http.Handler.
func (h *PairingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, iomt.DeviceID{}, &pairingFailure{code: "method_not_allowed", stage: "method"})
		return
	}
	if !h.lim.allow(h.cfg.Source(r)) {
		w.Header().Set("Retry-After", "60")
		h.fail(w, r, iomt.DeviceID{}, &pairingFailure{code: CodeRateLimited, stage: "rate limit"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	patient, err := h.cfg.Authenticate(r)
	if err != nil || patient.IsZero() {
		h.fail(w, r, iomt.DeviceID{}, &pairingFailure{code: CodeUnauthenticated, stage: "session"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		code := CodeBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			code = CodeTooLarge
		}
		h.fail(w, r, iomt.DeviceID{}, &pairingFailure{code: code, stage: "request"})
		return
	}
	req, f := decodePairingRequest(body)
	if f != nil {
		h.fail(w, r, req.Device, f)
		return
	}
	d, err := h.cfg.Registry.Lookup(ctx, req.Device)
	switch {
	case errors.Is(err, provisioning.ErrUnknownDevice):
		h.fail(w, r, req.Device, &pairingFailure{code: CodeUnknownDevice, stage: "registry"})
		return
	case err != nil:
		h.fail(w, r, req.Device, &pairingFailure{code: CodeInternal, stage: "registry"})
		return
	case d.PairingKey == nil:
		h.fail(w, r, req.Device, &pairingFailure{code: CodeUnknownDevice, stage: "pairing key"})
		return
	case d.Status != provisioning.StatusProvisioned && d.Status != provisioning.StatusActive:
		h.fail(w, r, req.Device, &pairingFailure{code: CodeRevoked, stage: "registry"})
		return
	case !d.Patient.IsZero() && d.Patient != patient:
		h.fail(w, r, req.Device, &pairingFailure{code: CodeDeviceBound, stage: "binding"})
		return
	}
	now := h.cfg.Now()
	key := nonceKey(req.Device, req.Nonce)
	if h.nonces.seenBefore(key, now) {
		h.fail(w, r, req.Device, &pairingFailure{code: CodeNonceReplayed, stage: "nonce"})
		return
	}
	token, _, err := h.cfg.Tokens.Issue(req.Device, patient)
	if err != nil {
		h.fail(w, r, req.Device, &pairingFailure{code: CodeInternal, stage: "token"})
		return
	}
	sealed, err := h.cfg.Sealer.Seal(provisioning.PairingPayload{
		Device: req.Device, Nonce: req.Nonce, SSID: req.SSID, Passphrase: req.Passphrase,
		Security: req.Security, Patient: patient, BrokerURL: h.cfg.BrokerURL,
		EnrollmentURL: h.cfg.EnrollmentURL, EnrollmentToken: token, IssuedAt: now, ExpiresMinutes: h.ttlMin,
	}, d.PairingKey)
	if err != nil {
		f := &pairingFailure{code: CodeInternal, stage: "seal"}
		var pe *provisioning.Error
		if errors.As(err, &pe) && errors.Is(err, provisioning.ErrMalformed) {
			f.code, f.field = CodeBadRequest, pe.Field
		}
		h.fail(w, r, req.Device, f)
		return
	}
	// Record the nonce only once the payload exists, so a typo in the
	// Wi-Fi settings does not burn the device's pairing session; the
	// insert is atomic, so of two concurrent identical requests one wins.
	switch h.nonces.record(key, now, now.Add(h.cfg.TTL)) {
	case errNonceSeen:
		h.fail(w, r, req.Device, &pairingFailure{code: CodeNonceReplayed, stage: "nonce"})
		return
	case errNonceTableFull:
		w.Header().Set("Retry-After", "60")
		h.fail(w, r, req.Device, &pairingFailure{code: CodeRateLimited, stage: "nonce table"})
		return
	}
	h.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "enroll: pairing payload sealed", slog.String("device", req.Device.String()))
	if h.cfg.OnIssued != nil {
		h.cfg.OnIssued(ctx, req.Device)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(pairingResponse{Sealed: sealed})
}

// pairingMessages are the fixed texts of the error answers.
var pairingMessages = map[string]string{
	CodeBadRequest:       "malformed pairing request",
	CodeTooLarge:         "pairing request too large",
	CodeRateLimited:      "too many requests",
	CodeUnauthenticated:  "a patient session is required",
	CodeUnknownDevice:    "unknown device",
	CodeRevoked:          "device revoked",
	CodeDeviceBound:      "device is bound to another patient",
	CodeNonceReplayed:    "pairing nonce already used; restart pairing on the device",
	CodeInternal:         "internal error",
	"method_not_allowed": "method not allowed",
}

// pairingFields are the field names a bad_request may name; anything else
// (a future provisioning field) is reported without a field.
var pairingFields = map[string]bool{"device_id": true, "nonce": true, "wifi.ssid": true, "wifi.psk": true, "wifi.sec": true}

func (h *PairingHandler) fail(w http.ResponseWriter, r *http.Request, device iomt.DeviceID, f *pairingFailure) {
	attrs := []slog.Attr{slog.String("code", f.code), slog.String("stage", f.stage)}
	if !device.IsZero() {
		attrs = append(attrs, slog.String("device", device.String()))
	}
	msg := pairingMessages[f.code]
	if f.field != "" && pairingFields[f.field] {
		attrs = append(attrs, slog.String("field", f.field))
		msg += ": " + f.field
	}
	level := slog.LevelWarn
	status := statusOf(f.code)
	switch f.code {
	case CodeInternal:
		level = slog.LevelError
	case "method_not_allowed":
		status = http.StatusMethodNotAllowed
	}
	h.cfg.Logger.LogAttrs(r.Context(), level, "enroll: pairing refused", attrs...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": f.code, "message": msg}})
}

// nonceKey hashes device and nonce, so the guard holds no nonce.
func nonceKey(device iomt.DeviceID, nonce []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(device.String()))
	h.Write(nonce)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

var (
	errNonceSeen      = errors.New("seen")
	errNonceTableFull = errors.New("full")
)

// nonceGuard remembers answered device/nonce pairs until their payloads
// expire, in a table of at most max entries.
type nonceGuard struct {
	mu   sync.Mutex
	max  int
	seen map[[32]byte]time.Time // key → expiry
}

func (g *nonceGuard) seenBefore(k [32]byte, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	exp, ok := g.seen[k]
	return ok && now.Before(exp)
}

func (g *nonceGuard) record(k [32]byte, now, expires time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if exp, ok := g.seen[k]; ok && now.Before(exp) {
		return errNonceSeen
	}
	if len(g.seen) >= g.max {
		for key, exp := range g.seen {
			if !now.Before(exp) {
				delete(g.seen, key)
			}
		}
		if len(g.seen) >= g.max {
			return errNonceTableFull
		}
	}
	g.seen[k] = expires
	return nil
}
