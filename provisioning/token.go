package provisioning

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Enrolment token limits and defaults.
const (
	// MaxTokenSize bounds a serialized enrolment token.
	MaxTokenSize = 2 << 10
	// DefaultTokenTTL is the lifetime of an enrolment token when
	// TokenIssuerConfig.TTL is zero: long enough for a pairing session.
	DefaultTokenTTL = 15 * time.Minute
	// MaxTokenTTL is the longest lifetime issuers may configure and
	// verifiers accept (exp - iat).
	MaxTokenTTL = 24 * time.Hour
	// DefaultTokenAudience is the audience of enrolment tokens when none is
	// configured.
	DefaultTokenAudience = "iomt-enrollment"
	// TokenType is the JWS "typ" of enrolment tokens, which keeps them from
	// being confused with other JWTs signed by the same key (RFC 8725 §3.11).
	TokenType = "iomt-enroll+jwt"
)

// TokenClaims are the claims of an enrolment token.
type TokenClaims struct {
	// ID is the token's unique identifier (jti); a token is accepted once.
	ID string
	// Issuer and Audience as configured.
	Issuer, Audience string
	// Device is the only device that may enrol with the token (sub).
	Device iomt.DeviceID
	// Patient is the patient the device is bound to on enrolment.
	Patient iomt.PatientID
	// IssuedAt and Expires bound the token's validity.
	IssuedAt, Expires time.Time
}

// LogValue implements slog.LogValuer: the token ID is a bearer secret's
// handle and the patient binding is personal, so neither is logged.
func (c TokenClaims) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device", c.Device.String()), slog.Time("expires", c.Expires))
}

type tokenJSON struct {
	ID       string `json:"jti"`
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Subject  string `json:"sub"`
	Patient  string `json:"pat"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

// TokenIssuerConfig configures a [TokenIssuer]. Key is required; the zero
// value of every other field has the documented default.
type TokenIssuerConfig struct {
	// Key signs tokens with ES256; it must be an ECDSA P-256 key and may be
	// backed by an HSM or KMS.
	Key crypto.Signer
	// KeyID goes into the JWS header "kid"; empty omits it.
	KeyID string
	// Issuer is the "iss" claim; empty means "iomt-provisioning".
	Issuer string
	// Audience is the "aud" claim; empty means DefaultTokenAudience.
	Audience string
	// TTL is the token lifetime; zero means DefaultTokenTTL. At most
	// MaxTokenTTL.
	TTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand supplies token IDs; nil means crypto/rand.
	Rand io.Reader
}

// TokenIssuer signs single-use enrolment tokens, each bound to one device
// and one patient. The cloud issues one to the phone app after registering
// the patient; the phone hands it to the device inside the pairing payload.
// A TokenIssuer is safe for concurrent use.
type TokenIssuer struct{ cfg TokenIssuerConfig }

// DefaultTokenIssuer is the "iss" claim when none is configured.
const DefaultTokenIssuer = "iomt-provisioning"

// NewTokenIssuer validates cfg and returns an issuer using a copy of it.
func NewTokenIssuer(cfg TokenIssuerConfig) (*TokenIssuer, error) {
	const op = "token issuer"
	if cfg.Key == nil {
		return nil, newErr(op, "key", ErrInvalidConfig)
	}
	if _, err := checkP256(cfg.Key.Public()); err != nil {
		return nil, newErr(op, "key", err)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTokenTTL
	}
	if cfg.TTL < 0 || cfg.TTL > MaxTokenTTL {
		return nil, newErr(op, "ttl", ErrInvalidConfig)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultTokenIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultTokenAudience
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &TokenIssuer{cfg: cfg}, nil
}

// Issue returns a signed token for device and patient, and its claims. The
// caller records nothing: single use is enforced when the token is
// consumed (see [TokenLedger]).
func (ti *TokenIssuer) Issue(device iomt.DeviceID, patient iomt.PatientID) (string, TokenClaims, error) {
	const op = "issue token"
	if device.IsZero() {
		return "", TokenClaims{}, newErr(op, "device", iomt.ErrInvalidID)
	}
	if patient.IsZero() {
		return "", TokenClaims{}, newErr(op, "patient", iomt.ErrInvalidID)
	}
	var jti [16]byte
	if _, err := io.ReadFull(ti.cfg.Rand, jti[:]); err != nil {
		return "", TokenClaims{}, newErr(op, "jti", err)
	}
	now := ti.cfg.Now().Truncate(time.Second)
	c := TokenClaims{
		ID: base64.RawURLEncoding.EncodeToString(jti[:]), Issuer: ti.cfg.Issuer, Audience: ti.cfg.Audience,
		Device: device, Patient: patient, IssuedAt: now, Expires: now.Add(ti.cfg.TTL),
	}
	payload, err := json.Marshal(tokenJSON{ID: c.ID, Issuer: c.Issuer, Audience: c.Audience,
		Subject: device.String(), Patient: patient.String(), IssuedAt: now.Unix(), Expires: c.Expires.Unix()})
	if err != nil {
		return "", TokenClaims{}, newErr(op, "", err)
	}
	tok, err := signCompact(payload, ti.cfg.Key, ti.cfg.KeyID, TokenType)
	if err != nil {
		return "", TokenClaims{}, newErr(op, "signature", err)
	}
	return string(tok), c, nil
}

// TokenVerifierConfig configures a [TokenVerifier]. Key is required.
type TokenVerifierConfig struct {
	// Key is the issuer's ECDSA P-256 public key.
	Key crypto.PublicKey
	// Issuer and Audience must match the token's; empty means the
	// defaults DefaultTokenIssuer and DefaultTokenAudience.
	Issuer, Audience string
	// Skew is the clock tolerance for "iat" and "exp"; zero means one
	// minute.
	Skew time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// TokenVerifier checks enrolment tokens: size, ES256 signature under the
// configured key, typ, issuer, audience, lifetime and device binding. It is
// a pure check; single use is the job of a [TokenLedger]. A TokenVerifier is
// safe for concurrent use.
type TokenVerifier struct {
	cfg TokenVerifierConfig
	key *ecdsa.PublicKey
}

// NewTokenVerifier validates cfg and returns a verifier using a copy of it.
func NewTokenVerifier(cfg TokenVerifierConfig) (*TokenVerifier, error) {
	const op = "token verifier"
	key, err := checkP256(cfg.Key)
	if err != nil {
		return nil, newErr(op, "key", err)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultTokenIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultTokenAudience
	}
	if cfg.Skew == 0 {
		cfg.Skew = time.Minute
	}
	if cfg.Skew < 0 {
		return nil, newErr(op, "skew", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &TokenVerifier{cfg: cfg, key: key}, nil
}

// Verify checks token and that it was issued for device, and returns its
// claims. Errors wrap ErrTooLarge, ErrMalformed, ErrBadSignature (forged or
// unsigned), ErrWrongAudience, ErrExpired or ErrDeviceMismatch.
func (v *TokenVerifier) Verify(token string, device iomt.DeviceID) (TokenClaims, error) {
	const op = "enrolment token"
	if len(token) > MaxTokenSize {
		return TokenClaims{}, newErr(op, "", ErrTooLarge)
	}
	payload, err := verifyCompact([]byte(token), v.key, TokenType)
	if err != nil {
		return TokenClaims{}, newErr(op, "", err)
	}
	var tj tokenJSON
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tj); err != nil || dec.More() {
		return TokenClaims{}, newErr(op, "claims", ErrMalformed)
	}
	c := TokenClaims{ID: tj.ID, Issuer: tj.Issuer, Audience: tj.Audience,
		IssuedAt: time.Unix(tj.IssuedAt, 0), Expires: time.Unix(tj.Expires, 0)}
	if len(c.ID) < 16 || len(c.ID) > 64 {
		return TokenClaims{}, newErr(op, "jti", ErrMalformed)
	}
	if c.Device, err = iomt.ParseDeviceID(tj.Subject); err != nil {
		return TokenClaims{}, newErr(op, "sub", ErrMalformed)
	}
	if c.Patient, err = iomt.ParsePatientID(tj.Patient); err != nil {
		return TokenClaims{}, newErr(op, "pat", ErrMalformed)
	}
	if c.Issuer != v.cfg.Issuer {
		return TokenClaims{}, newErr(op, "iss", ErrWrongAudience)
	}
	if c.Audience != v.cfg.Audience {
		return TokenClaims{}, newErr(op, "aud", ErrWrongAudience)
	}
	life := c.Expires.Sub(c.IssuedAt)
	if life <= 0 || life > MaxTokenTTL {
		return TokenClaims{}, newErr(op, "exp", ErrMalformed)
	}
	now := v.cfg.Now()
	if now.Add(v.cfg.Skew).Before(c.IssuedAt) {
		return TokenClaims{}, newErr(op, "iat", ErrExpired)
	}
	if !now.Add(-v.cfg.Skew).Before(c.Expires) {
		return TokenClaims{}, newErr(op, "exp", ErrExpired)
	}
	if c.Device != device {
		return TokenClaims{}, newErr(op, "sub", ErrDeviceMismatch)
	}
	return c, nil
}

// TokenLedger records consumed enrolment tokens so that each is accepted
// once. The device registries implement it.
type TokenLedger interface {
	// ConsumeToken atomically records the token ID, or fails with an error
	// wrapping [ErrReplay] when it was recorded before. expires lets the
	// ledger forget IDs whose tokens can no longer verify.
	ConsumeToken(ctx context.Context, id string, expires time.Time) error
}
