package provisioning

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/openiomt/sdk/iomt"
)

// Pairing payload limits.
const (
	// MaxPairingSize bounds a sealed pairing payload (the JWE).
	MaxPairingSize = 8 << 10
	// MaxPairingMinutes is the longest validity a pairing payload may
	// declare.
	MaxPairingMinutes = 60
	// NonceSize is the size of the nonces NewSession generates; Open
	// accepts 16 to 64 bytes.
	NonceSize = 16
	// PairingType is the JWS "typ" of the signed payload and the JWE "cty"
	// of the encrypted one.
	PairingType = "iomt-pairing+jws"
)

// WiFiSecurity is the Wi-Fi security type in a pairing payload.
type WiFiSecurity string

// Wi-Fi security types.
const (
	WiFiOpen WiFiSecurity = "open"     // no passphrase
	WiFiWPA2 WiFiSecurity = "wpa2-psk" // passphrase of 8-63 characters
	WiFiWPA3 WiFiSecurity = "wpa3-sae" // passphrase of 8-63 characters
)

// PairingPayload is what the phone hands the device over Bluetooth: network
// credentials, the patient binding and what the device needs to enrol. It
// holds secrets (the passphrase and the enrolment token), so it implements
// slog.LogValuer to redact them.
type PairingPayload struct {
	// Device is the audience: the only device that accepts the payload.
	Device iomt.DeviceID
	// Nonce is the one-time nonce the device offered for this pairing.
	Nonce []byte
	// SSID, Passphrase and Security configure Wi-Fi.
	SSID, Passphrase string
	Security         WiFiSecurity
	// Patient is the patient the device is bound to.
	Patient iomt.PatientID
	// BrokerURL is the MQTT broker (scheme mqtts).
	BrokerURL string
	// EnrollmentURL is the enrolment service base URL (scheme https).
	EnrollmentURL string
	// EnrollmentToken is the single-use enrolment token.
	EnrollmentToken string
	// IssuedAt is when the payload was sealed; Seal fills it when zero.
	IssuedAt time.Time
	// ExpiresMinutes is the validity after IssuedAt, 1 to
	// MaxPairingMinutes; zero means 10 when sealing.
	ExpiresMinutes int
}

// LogValue implements slog.LogValuer without the passphrase, token, SSID or
// patient binding.
func (p PairingPayload) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device", p.Device.String()),
		slog.String("security", string(p.Security)), slog.Time("issued_at", p.IssuedAt))
}

// Expires returns IssuedAt + ExpiresMinutes.
func (p PairingPayload) Expires() time.Time {
	return p.IssuedAt.Add(time.Duration(p.ExpiresMinutes) * time.Minute)
}

type pairingWiFi struct {
	SSID       string `json:"ssid"`
	Passphrase string `json:"psk,omitempty"`
	Security   string `json:"sec"`
}

type pairingJSON struct {
	V              int         `json:"v"`
	Issuer         string      `json:"iss"`
	Audience       string      `json:"aud"`
	Nonce          string      `json:"nonce"`
	IssuedAt       int64       `json:"iat"`
	ExpiresMinutes int         `json:"exp_min"`
	WiFi           pairingWiFi `json:"wifi"`
	Patient        string      `json:"pat"`
	BrokerURL      string      `json:"broker"`
	EnrollmentURL  string      `json:"enroll_url"`
	Token          string      `json:"token"`
}

// validate checks every field except the device-specific ones.
func (p *PairingPayload) validate() error {
	const op = "pairing payload"
	if p.Device.IsZero() {
		return newErr(op, "aud", iomt.ErrInvalidID)
	}
	if len(p.Nonce) < 16 || len(p.Nonce) > 64 {
		return newErr(op, "nonce", ErrMalformed)
	}
	if len(p.SSID) == 0 || len(p.SSID) > 32 {
		return newErr(op, "wifi.ssid", ErrMalformed)
	}
	switch p.Security {
	case WiFiOpen:
		if p.Passphrase != "" {
			return newErr(op, "wifi.psk", ErrMalformed)
		}
	case WiFiWPA2, WiFiWPA3:
		if n := len(p.Passphrase); n < 8 || n > 63 || !utf8.ValidString(p.Passphrase) {
			return newErr(op, "wifi.psk", ErrMalformed)
		}
	default:
		return newErr(op, "wifi.sec", ErrMalformed)
	}
	if p.Patient.IsZero() {
		return newErr(op, "pat", iomt.ErrInvalidID)
	}
	if !checkURL(p.BrokerURL, "mqtts") {
		return newErr(op, "broker", ErrMalformed)
	}
	if !checkURL(p.EnrollmentURL, "https") {
		return newErr(op, "enroll_url", ErrMalformed)
	}
	if p.EnrollmentToken == "" || len(p.EnrollmentToken) > MaxTokenSize {
		return newErr(op, "token", ErrMalformed)
	}
	if p.ExpiresMinutes < 1 || p.ExpiresMinutes > MaxPairingMinutes {
		return newErr(op, "exp_min", ErrMalformed)
	}
	return nil
}

// checkURL accepts absolute URLs of scheme with a host and no user info.
func checkURL(s, scheme string) bool {
	if len(s) > 512 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == scheme && u.Host != "" && u.User == nil && u.Opaque == ""
}

// GeneratePairingKey returns a new ECDSA P-256 pairing key; the device
// keeps the private key and shows the public key to the cloud (printed on
// the box as a QR code or registered at the factory). rnd may be nil.
func GeneratePairingKey(rnd io.Reader) (*ecdsa.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	return ecdsa.GenerateKey(elliptic.P256(), rnd)
}

// PairingSealerConfig configures a [PairingSealer]. Key is required.
type PairingSealerConfig struct {
	// Key is the cloud's provisioning key (ECDSA P-256, ES256).
	Key crypto.Signer
	// KeyID goes into the JWS header "kid"; empty omits it.
	KeyID string
	// Issuer is the "iss" claim; empty means DefaultTokenIssuer.
	Issuer string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// PairingSealer signs pairing payloads with the provisioning key (JWS
// ES256) and encrypts them to a device's pairing key (JWE ECDH-ES+A256KW,
// A256GCM). It runs in the cloud; the phone only relays the result. It is
// safe for concurrent use.
type PairingSealer struct{ cfg PairingSealerConfig }

// NewPairingSealer validates cfg and returns a sealer using a copy of it.
func NewPairingSealer(cfg PairingSealerConfig) (*PairingSealer, error) {
	if cfg.Key == nil {
		return nil, newErr("pairing sealer", "key", ErrInvalidConfig)
	}
	if _, err := checkP256(cfg.Key.Public()); err != nil {
		return nil, newErr("pairing sealer", "key", err)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultTokenIssuer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &PairingSealer{cfg: cfg}, nil
}

// Seal validates p, signs it and encrypts it to devicePairingKey (an ECDSA
// P-256 public key). Zero IssuedAt becomes now; zero ExpiresMinutes 10.
func (s *PairingSealer) Seal(p PairingPayload, devicePairingKey crypto.PublicKey) ([]byte, error) {
	const op = "seal pairing payload"
	pub, err := checkP256(devicePairingKey)
	if err != nil {
		return nil, newErr(op, "device pairing key", err)
	}
	if p.IssuedAt.IsZero() {
		p.IssuedAt = s.cfg.Now()
	}
	if p.ExpiresMinutes == 0 {
		p.ExpiresMinutes = 10
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(pairingJSON{V: 1, Issuer: s.cfg.Issuer, Audience: p.Device.String(),
		Nonce: base64.RawURLEncoding.EncodeToString(p.Nonce), IssuedAt: p.IssuedAt.Unix(),
		ExpiresMinutes: p.ExpiresMinutes,
		WiFi:           pairingWiFi{SSID: p.SSID, Passphrase: p.Passphrase, Security: string(p.Security)},
		Patient:        p.Patient.String(), BrokerURL: p.BrokerURL, EnrollmentURL: p.EnrollmentURL, Token: p.EnrollmentToken})
	if err != nil {
		return nil, newErr(op, "", err)
	}
	signed, err := signCompact(b, s.cfg.Key, s.cfg.KeyID, PairingType)
	if err != nil {
		return nil, newErr(op, "signature", err)
	}
	out, err := encryptCompact(signed, pub, PairingType)
	if err != nil {
		return nil, newErr(op, "encryption", err)
	}
	if len(out) > MaxPairingSize {
		return nil, newErr(op, "", ErrTooLarge)
	}
	return out, nil
}

// PairingOpenerConfig configures a [PairingOpener] on the device.
// PairingKey, Trusted and Device are required.
type PairingOpenerConfig struct {
	// PairingKey is the device's ECDSA P-256 pairing key.
	PairingKey *ecdsa.PrivateKey
	// Trusted is the cloud's provisioning public key (ECDSA P-256), baked
	// into the firmware. Only payloads it signed are accepted.
	Trusted crypto.PublicKey
	// Device is this device's UUID; payloads for any other are rejected.
	Device iomt.DeviceID
	// Issuer must equal the payload's "iss"; empty means DefaultTokenIssuer.
	Issuer string
	// Skew is the clock tolerance; zero means two minutes (device clocks
	// before the first network time sync are rough).
	Skew time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// PairingOpener decrypts and verifies pairing payloads on the device. It
// is a pure check over bytes: the one-time nonce is supplied by the caller,
// usually through a [PairingSession]. It is safe for concurrent use.
type PairingOpener struct {
	cfg     PairingOpenerConfig
	trusted *ecdsa.PublicKey
}

// NewPairingOpener validates cfg and returns an opener using a copy of it.
func NewPairingOpener(cfg PairingOpenerConfig) (*PairingOpener, error) {
	const op = "pairing opener"
	if cfg.PairingKey == nil || cfg.PairingKey.Curve != elliptic.P256() {
		return nil, newErr(op, "pairing key", ErrUnsupportedKey)
	}
	trusted, err := checkP256(cfg.Trusted)
	if err != nil {
		return nil, newErr(op, "trusted key", err)
	}
	if cfg.Device.IsZero() {
		return nil, newErr(op, "device", iomt.ErrInvalidID)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultTokenIssuer
	}
	if cfg.Skew == 0 {
		cfg.Skew = 2 * time.Minute
	}
	if cfg.Skew < 0 {
		return nil, newErr(op, "skew", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &PairingOpener{cfg: cfg, trusted: trusted}, nil
}

// Open decrypts sealed with the pairing key, verifies the provisioning
// signature, and checks issuer, audience (this device), nonce (must equal
// nonce, compared in constant time) and expiry. Errors wrap ErrTooLarge,
// ErrMalformed, ErrDecrypt (tampered or for another key), ErrBadSignature
// (forged or unsigned), ErrWrongAudience, ErrDeviceMismatch, ErrStaleNonce
// or ErrExpired.
func (o *PairingOpener) Open(sealed, nonce []byte) (PairingPayload, error) {
	const op = "pairing payload"
	if len(sealed) > MaxPairingSize {
		return PairingPayload{}, newErr(op, "", ErrTooLarge)
	}
	signed, err := decryptCompact(sealed, o.cfg.PairingKey, PairingType)
	if err != nil {
		return PairingPayload{}, newErr(op, "encryption", err)
	}
	b, err := verifyCompact(signed, o.trusted, PairingType)
	if err != nil {
		return PairingPayload{}, newErr(op, "signature", err)
	}
	var pj pairingJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pj); err != nil || dec.More() || pj.V != 1 {
		return PairingPayload{}, newErr(op, "claims", ErrMalformed)
	}
	p := PairingPayload{SSID: pj.WiFi.SSID, Passphrase: pj.WiFi.Passphrase, Security: WiFiSecurity(pj.WiFi.Security),
		BrokerURL: pj.BrokerURL, EnrollmentURL: pj.EnrollmentURL, EnrollmentToken: pj.Token,
		IssuedAt: time.Unix(pj.IssuedAt, 0), ExpiresMinutes: pj.ExpiresMinutes}
	if p.Device, err = iomt.ParseDeviceID(pj.Audience); err != nil {
		return PairingPayload{}, newErr(op, "aud", ErrMalformed)
	}
	if p.Patient, err = iomt.ParsePatientID(pj.Patient); err != nil {
		return PairingPayload{}, newErr(op, "pat", ErrMalformed)
	}
	if p.Nonce, err = base64.RawURLEncoding.DecodeString(pj.Nonce); err != nil {
		return PairingPayload{}, newErr(op, "nonce", ErrMalformed)
	}
	if err := p.validate(); err != nil {
		return PairingPayload{}, err
	}
	if pj.Issuer != o.cfg.Issuer {
		return PairingPayload{}, newErr(op, "iss", ErrWrongAudience)
	}
	if p.Device != o.cfg.Device {
		return PairingPayload{}, newErr(op, "aud", ErrDeviceMismatch)
	}
	if len(nonce) == 0 || subtle.ConstantTimeCompare(p.Nonce, nonce) != 1 {
		return PairingPayload{}, newErr(op, "nonce", ErrStaleNonce)
	}
	now := o.cfg.Now()
	if now.Add(o.cfg.Skew).Before(p.IssuedAt) {
		return PairingPayload{}, newErr(op, "iat", ErrExpired)
	}
	if !now.Add(-o.cfg.Skew).Before(p.Expires()) {
		return PairingPayload{}, newErr(op, "exp_min", ErrExpired)
	}
	return p, nil
}

// PairingSession is one pairing attempt on the device: it offers a fresh
// one-time nonce (exposed over BLE for the phone to fetch) and accepts at
// most one payload carrying it. After a successful Open every further Open
// fails with [ErrStaleNonce], so a recorded payload cannot be replayed; a
// failed Open leaves the session usable. Start a new session for every
// pairing. A PairingSession is safe for concurrent use.
type PairingSession struct {
	opener *PairingOpener
	mu     sync.Mutex
	nonce  []byte
	used   bool
}

// NewSession starts a pairing session with a nonce read from rnd (nil means
// crypto/rand).
func (o *PairingOpener) NewSession(rnd io.Reader) (*PairingSession, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	n := make([]byte, NonceSize)
	if _, err := io.ReadFull(rnd, n); err != nil {
		return nil, newErr("pairing session", "nonce", err)
	}
	return &PairingSession{opener: o, nonce: n}, nil
}

// Nonce returns a copy of the session's nonce.
func (s *PairingSession) Nonce() []byte {
	return append([]byte(nil), s.nonce...)
}

// Open opens sealed against the session's nonce and, on success, ends the
// session.
func (s *PairingSession) Open(sealed []byte) (PairingPayload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used {
		return PairingPayload{}, newErr("pairing payload", "nonce", ErrStaleNonce)
	}
	p, err := s.opener.Open(sealed, s.nonce)
	if err == nil {
		s.used = true
	}
	return p, err
}

// Apply records the pairing in id: patient binding, broker and enrolment
// URLs. It does not touch keys or certificates.
func (p PairingPayload) Apply(id *Identity) {
	id.Patient = p.Patient
	id.BrokerURL = p.BrokerURL
	id.EnrollmentURL = p.EnrollmentURL
}
