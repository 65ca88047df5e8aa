package telemetry

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"io"

	"github.com/openiomt/sdk/iomt"
)

// A small, strict JWK codec (RFC 7517, RFC 7518 §6.2, RFC 8037) for exactly
// the two key types this package uses: EC P-256 and OKP Ed25519. It keeps
// general JOSE machinery — and its HTTP key-fetching cache, which would
// link net/http into every device binary — out of the device build. The
// tests prove that go-jose and jwx read the JWKs written here and that
// JWKs written by them are read here.

// jwkDoc holds the members of one JWK this package interprets.
type jwkDoc struct {
	kty, crv, x, y, d, kid, alg, use string
	hasD                             bool
}

// Members that carry private or symmetric key material of key types this
// package does not support; their presence makes a JWK invalid here.
var foreignSecretMembers = [...]string{"k", "p", "q", "dp", "dq", "qi", "oth"}

// decodeJWK parses one JWK object: member names unique and case-exact,
// the interpreted members strings, other members ignored unless they hold
// foreign secret material.
func decodeJWK(b []byte) (*jwkDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%w: JWK is not a JSON object", ErrInvalidKey)
	}
	var j jwkDoc
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: JWK is not valid JSON", ErrInvalidKey)
		}
		name, _ := t.(string)
		if seen[name] {
			return nil, fmt.Errorf("%w: duplicate JWK member", ErrInvalidKey)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: JWK is not valid JSON", ErrInvalidKey)
		}
		var dst *string
		switch name {
		case "kty":
			dst = &j.kty
		case "crv":
			dst = &j.crv
		case "x":
			dst = &j.x
		case "y":
			dst = &j.y
		case "d":
			dst, j.hasD = &j.d, true
		case "kid":
			dst = &j.kid
		case "alg":
			dst = &j.alg
		case "use":
			dst = &j.use
		default:
			for _, m := range foreignSecretMembers {
				if name == m {
					return nil, fmt.Errorf("%w: JWK holds key material of an unsupported type", ErrInvalidKey)
				}
			}
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("%w: JWK member %s is not a string", ErrInvalidKey, name)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: JWK is not valid JSON", ErrInvalidKey)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after JWK", ErrInvalidKey)
	}
	return &j, nil
}

// device returns the device UUID in "kid".
func (j *jwkDoc) device() (iomt.DeviceID, error) {
	if j.kid == "" {
		return iomt.DeviceID{}, fmt.Errorf("%w: missing kid", ErrInvalidKey)
	}
	dev, err := iomt.ParseDeviceID(j.kid)
	if err != nil {
		return iomt.DeviceID{}, fmt.Errorf("%w: kid is not a canonical device UUID", ErrInvalidKey)
	}
	return dev, nil
}

// coord decodes a fixed-size base64url member.
func coord(name, v string, size int) ([]byte, error) {
	b, err := b64.DecodeString(v)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%w: JWK member %s is not %d bytes of base64url", ErrInvalidKey, name, size)
	}
	return b, nil
}

// public returns the validated public key and its algorithm.
func (j *jwkDoc) public() (crypto.PublicKey, Algorithm, error) {
	var (
		pub crypto.PublicKey
		alg Algorithm
	)
	switch {
	case j.kty == "EC" && j.crv == "P-256":
		x, err := coord("x", j.x, 32)
		if err != nil {
			return nil, "", err
		}
		y, err := coord("y", j.y, 32)
		if err != nil {
			return nil, "", err
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, "", fmt.Errorf("%w: point is not on P-256", ErrInvalidKey)
		}
		pub, alg = k, ES256
	case j.kty == "OKP" && j.crv == "Ed25519":
		if j.y != "" {
			return nil, "", fmt.Errorf("%w: OKP key with y member", ErrInvalidKey)
		}
		x, err := coord("x", j.x, ed25519.PublicKeySize)
		if err != nil {
			return nil, "", err
		}
		pub, alg = ed25519.PublicKey(x), EdDSA
	default:
		return nil, "", fmt.Errorf("%w: key is not EC P-256 or OKP Ed25519", ErrInvalidKey)
	}
	if j.alg != "" && j.alg != string(alg) {
		return nil, "", fmt.Errorf("%w: alg member does not match key type", ErrInvalidKey)
	}
	if j.use != "" && j.use != "sig" {
		return nil, "", fmt.Errorf("%w: use member is not sig", ErrInvalidKey)
	}
	return pub, alg, nil
}

// private returns the validated private key; its public members must match.
func (j *jwkDoc) private() (crypto.Signer, error) {
	pub, alg, err := j.public()
	if err != nil {
		return nil, err
	}
	if !j.hasD {
		return nil, fmt.Errorf("%w: not a private key", ErrInvalidKey)
	}
	switch alg {
	case ES256:
		d, err := coord("d", j.d, 32)
		if err != nil {
			return nil, err
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			return nil, fmt.Errorf("%w: invalid private scalar", ErrInvalidKey)
		}
		if !k.PublicKey.Equal(pub) {
			return nil, fmt.Errorf("%w: public members do not match private key", ErrInvalidKey)
		}
		return k, nil
	default:
		seed, err := coord("d", j.d, ed25519.SeedSize)
		if err != nil {
			return nil, err
		}
		k := ed25519.NewKeyFromSeed(seed)
		if !k.Public().(ed25519.PublicKey).Equal(pub) {
			return nil, fmt.Errorf("%w: public members do not match private key", ErrInvalidKey)
		}
		return k, nil
	}
}

// encodeJWK writes a JWK with members in lexical order. priv may be nil.
func encodeJWK(pub crypto.PublicKey, priv crypto.Signer, alg Algorithm, dev iomt.DeviceID) ([]byte, error) {
	if dev.IsZero() {
		return nil, fmt.Errorf("%w: zero device ID", ErrInvalidKey)
	}
	var kty, crv string
	var x, y, d []byte
	switch alg {
	case ES256:
		raw, err := pub.(*ecdsa.PublicKey).Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: invalid P-256 point", ErrInvalidKey)
		}
		kty, crv, x, y = "EC", "P-256", raw[1:33], raw[33:65]
		if priv != nil {
			if d, err = priv.(*ecdsa.PrivateKey).Bytes(); err != nil {
				return nil, fmt.Errorf("%w: invalid private scalar", ErrInvalidKey)
			}
		}
	case EdDSA:
		kty, crv, x = "OKP", "Ed25519", pub.(ed25519.PublicKey)
		if priv != nil {
			d = priv.(ed25519.PrivateKey).Seed()
		}
	default:
		return nil, fmt.Errorf("%w: use ES256 or EdDSA", ErrAlgorithm)
	}
	var b bytes.Buffer
	member := func(name, v string) {
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(`"` + name + `":"` + v + `"`)
	}
	member("alg", string(alg))
	member("crv", crv)
	if d != nil {
		member("d", b64.EncodeToString(d))
	}
	member("kid", dev.String())
	member("kty", kty)
	member("use", "sig")
	member("x", b64.EncodeToString(x))
	if y != nil {
		member("y", b64.EncodeToString(y))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
