// Package jwk is the module's one strict JWK codec (RFC 7517, RFC 7518
// §6.2, RFC 8037) for exactly the two signing key types the SDK uses: EC
// P-256 (ES256) and OKP Ed25519 (EdDSA). telemetry and ota both use it;
// each keeps its own "kid" rules (a device UUID there, an RFC 7638
// thumbprint here) and its own error values.
//
// It keeps general JOSE machinery — and its HTTP key-fetching cache,
// which would link net/http into every device binary — out of the device
// build. Parsing is strict: member names are unique and case-exact, the
// interpreted members are strings, base64url is canonical and of the exact
// length, EC points lie on P-256, the public members of a private key match
// it, and members carrying key material of other key types are refused.
// Other members are ignored. Every failure is an [*Error] matching one of
// the Err* kinds with errors.Is.
package jwk

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Algorithms, as written in the "alg" member.
const (
	ES256 = "ES256" // ECDSA on P-256 with SHA-256
	EdDSA = "EdDSA" // Ed25519
)

// MaxSize bounds the input of [Decode]. Callers may enforce a smaller limit
// of their own first.
const MaxSize = 64 << 10

// Error kinds; every *Error matches exactly one with errors.Is.
var (
	// ErrOversize: input above MaxSize.
	ErrOversize = errors.New("jwk: input too large")
	// ErrSyntax: not one JSON object, a duplicate member, a non-string
	// member, trailing data.
	ErrSyntax = errors.New("jwk: malformed JWK")
	// ErrUnsupported: a key type, curve, "alg" or "use" other than the
	// supported ones, or key material of another key type.
	ErrUnsupported = errors.New("jwk: unsupported key")
	// ErrEncoding: a key member that is not canonical base64url of the
	// exact length.
	ErrEncoding = errors.New("jwk: bad key member encoding")
	// ErrPoint: an EC point not on P-256, or an invalid private scalar.
	ErrPoint = errors.New("jwk: invalid key value")
	// ErrMismatch: public members that do not match the private key.
	ErrMismatch = errors.New("jwk: public members do not match private key")
	// ErrNotPrivate: a private key was required but "d" is missing.
	ErrNotPrivate = errors.New("jwk: not a private key")
)

// Error is a JWK failure: Kind is one of the Err* values, Detail a short
// description without key material.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return "jwk: " + e.Detail }

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, a...)}
}

// Detail returns the description of a JWK error for callers that wrap it
// into their own error value, or err's text for any other error.
func Detail(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return err.Error()
}

var b64 = base64.RawURLEncoding.Strict()

// Doc holds the members of one JWK that the codec interprets.
type Doc struct {
	Kty, Crv, X, Y, D, Kid, Alg, Use string
	// HasD reports a "d" member (even an empty one).
	HasD bool
}

// Members that carry private or symmetric key material of key types this
// package does not support; their presence makes a JWK invalid here.
var foreignSecretMembers = [...]string{"k", "p", "q", "dp", "dq", "qi", "oth"}

// Decode parses one JWK object: member names unique and case-exact, the
// interpreted members strings, other members ignored unless they hold
// foreign secret material. It does not validate the key; see
// [Doc.Public] and [Doc.Private].
func Decode(b []byte) (*Doc, error) {
	if len(b) > MaxSize {
		return nil, fail(ErrOversize, "JWK above %d bytes", MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fail(ErrSyntax, "JWK is not a JSON object")
	}
	var j Doc
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fail(ErrSyntax, "JWK is not valid JSON")
		}
		name, _ := t.(string)
		if seen[name] {
			return nil, fail(ErrSyntax, "duplicate JWK member")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fail(ErrSyntax, "JWK is not valid JSON")
		}
		var dst *string
		switch name {
		case "kty":
			dst = &j.Kty
		case "crv":
			dst = &j.Crv
		case "x":
			dst = &j.X
		case "y":
			dst = &j.Y
		case "d":
			dst, j.HasD = &j.D, true
		case "kid":
			dst = &j.Kid
		case "alg":
			dst = &j.Alg
		case "use":
			dst = &j.Use
		default:
			for _, m := range foreignSecretMembers {
				if name == m {
					return nil, fail(ErrUnsupported, "JWK holds key material of an unsupported type")
				}
			}
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fail(ErrSyntax, "JWK member %s is not a string", name)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(ErrSyntax, "JWK is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail(ErrSyntax, "trailing data after JWK")
	}
	return &j, nil
}

// coord decodes a fixed-size base64url member.
func coord(name, v string, size int) ([]byte, error) {
	b, err := b64.DecodeString(v)
	if err != nil || len(b) != size {
		return nil, fail(ErrEncoding, "JWK member %s is not %d bytes of base64url", name, size)
	}
	return b, nil
}

// Public returns the validated public key (an *ecdsa.PublicKey on P-256
// or an ed25519.PublicKey) and its algorithm. It ignores "d"; callers that
// must refuse private material check HasD.
func (j *Doc) Public() (crypto.PublicKey, string, error) {
	var (
		pub crypto.PublicKey
		alg string
	)
	switch {
	case j.Kty == "EC" && j.Crv == "P-256":
		x, err := coord("x", j.X, 32)
		if err != nil {
			return nil, "", err
		}
		y, err := coord("y", j.Y, 32)
		if err != nil {
			return nil, "", err
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, "", fail(ErrPoint, "point is not on P-256")
		}
		pub, alg = k, ES256
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		if j.Y != "" {
			return nil, "", fail(ErrUnsupported, "OKP key with y member")
		}
		x, err := coord("x", j.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, "", err
		}
		pub, alg = ed25519.PublicKey(x), EdDSA
	default:
		return nil, "", fail(ErrUnsupported, "key is not EC P-256 or OKP Ed25519")
	}
	if j.Alg != "" && j.Alg != alg {
		return nil, "", fail(ErrUnsupported, "alg member does not match key type")
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, "", fail(ErrUnsupported, "use member is not sig")
	}
	return pub, alg, nil
}

// Private returns the validated private key (an *ecdsa.PrivateKey on
// P-256 or an ed25519.PrivateKey); its public members must match it.
func (j *Doc) Private() (crypto.Signer, error) {
	pub, alg, err := j.Public()
	if err != nil {
		return nil, err
	}
	if !j.HasD {
		return nil, fail(ErrNotPrivate, "not a private key")
	}
	switch alg {
	case ES256:
		d, err := coord("d", j.D, 32)
		if err != nil {
			return nil, err
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			return nil, fail(ErrPoint, "invalid private scalar")
		}
		if !k.PublicKey.Equal(pub) {
			return nil, fail(ErrMismatch, "public members do not match private key")
		}
		return k, nil
	default:
		seed, err := coord("d", j.D, ed25519.SeedSize)
		if err != nil {
			return nil, err
		}
		k := ed25519.NewKeyFromSeed(seed)
		if !k.Public().(ed25519.PublicKey).Equal(pub) {
			return nil, fail(ErrMismatch, "public members do not match private key")
		}
		return k, nil
	}
}

// Encode writes a JWK of pub with members in lexical order and no
// whitespace: "alg" (from the key type), "crv", "d" if priv is not nil,
// "kid" if not empty, "kty", "use" if not empty, "x", "y". pub is an
// *ecdsa.PublicKey on P-256 or an ed25519.PublicKey; priv, if not nil, is
// the matching *ecdsa.PrivateKey or ed25519.PrivateKey. kid and use are
// JSON-escaped as encoding/json does.
func Encode(pub crypto.PublicKey, priv crypto.Signer, kid, use string) ([]byte, error) {
	var alg, kty, crv string
	var x, y, d []byte
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return nil, fail(ErrUnsupported, "key is not EC P-256 or OKP Ed25519")
		}
		raw, err := k.Bytes()
		if err != nil {
			return nil, fail(ErrPoint, "invalid P-256 point")
		}
		alg, kty, crv, x, y = ES256, "EC", "P-256", raw[1:33], raw[33:65]
		if priv != nil {
			p, ok := priv.(*ecdsa.PrivateKey)
			if !ok || !p.PublicKey.Equal(k) {
				return nil, fail(ErrMismatch, "public members do not match private key")
			}
			if d, err = p.Bytes(); err != nil {
				return nil, fail(ErrPoint, "invalid private scalar")
			}
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fail(ErrEncoding, "Ed25519 key is not %d bytes", ed25519.PublicKeySize)
		}
		alg, kty, crv, x = EdDSA, "OKP", "Ed25519", k
		if priv != nil {
			p, ok := priv.(ed25519.PrivateKey)
			if !ok || len(p) != ed25519.PrivateKeySize || !k.Equal(p.Public()) {
				return nil, fail(ErrMismatch, "public members do not match private key")
			}
			d = p.Seed()
		}
	default:
		return nil, fail(ErrUnsupported, "key is not EC P-256 or OKP Ed25519")
	}
	var b bytes.Buffer
	member := func(name, v string) {
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		s, _ := json.Marshal(v) // a string always marshals
		b.WriteString(`"` + name + `":`)
		b.Write(s)
	}
	member("alg", alg)
	member("crv", crv)
	if d != nil {
		member("d", b64.EncodeToString(d))
	}
	if kid != "" {
		member("kid", kid)
	}
	member("kty", kty)
	if use != "" {
		member("use", use)
	}
	member("x", b64.EncodeToString(x))
	if y != nil {
		member("y", b64.EncodeToString(y))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
