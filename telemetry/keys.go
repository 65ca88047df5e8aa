package telemetry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"os"

	"github.com/openiomt/sdk/internal/jwk"
	"github.com/openiomt/sdk/iomt"
)

// Algorithm is a JWS signature algorithm allowed for telemetry envelopes.
type Algorithm string

// The allowed algorithms. No others — in particular not "none" and no HMAC
// algorithm — are ever accepted.
const (
	// ES256 is ECDSA on P-256 with SHA-256 (RFC 7518 §3.4): 64-byte r||s
	// signatures. Widely supported by secure elements and TPMs.
	ES256 Algorithm = "ES256"
	// EdDSA is Ed25519 (RFC 8037): 64-byte signatures, deterministic.
	EdDSA Algorithm = "EdDSA"
)

// Valid reports whether a is ES256 or EdDSA.
func (a Algorithm) Valid() bool { return a == ES256 || a == EdDSA }

// ParseAlgorithm returns the Algorithm spelled s ("ES256" or "EdDSA").
func ParseAlgorithm(s string) (Algorithm, error) {
	if a := Algorithm(s); a.Valid() {
		return a, nil
	}
	return "", fmt.Errorf("%w: use ES256 or EdDSA", ErrAlgorithm)
}

// Size limits for key material read from files.
const (
	// MaxJWKSize bounds one JWK document.
	MaxJWKSize = 16 << 10
	// MaxJWKSSize bounds a JWK set file (about 40 000 device keys). Fleets
	// larger than that resolve keys from a device registry instead.
	MaxJWKSSize = 16 << 20
	// MaxJWKSKeys bounds the keys in one JWK set.
	MaxJWKSKeys = 100_000
)

// GenerateKey returns a new private key for alg: an *ecdsa.PrivateKey on
// P-256 for ES256, an ed25519.PrivateKey for EdDSA. rand nil means
// crypto/rand. Device keys should preferably be generated inside a secure
// element, which exposes them as a crypto.Signer; this function serves
// development, tests and devices without one.
func GenerateKey(alg Algorithm, rnd io.Reader) (crypto.Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rnd)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rnd)
		if err != nil {
			return nil, err
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: use ES256 or EdDSA", ErrAlgorithm)
}

// AlgorithmOf returns the algorithm for a public key: ES256 for an
// *ecdsa.PublicKey on P-256, EdDSA for an ed25519.PublicKey. Any other key
// fails with [ErrInvalidKey].
func AlgorithmOf(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() && k.X != nil && k.Y != nil {
			return ES256, nil
		}
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return EdDSA, nil
		}
	}
	return "", fmt.Errorf("%w: key is not P-256 ECDSA or Ed25519", ErrInvalidKey)
}

// normalizePublic validates pub and returns it in canonical form: an
// ECDSA point is checked to be on P-256 and not the identity.
func normalizePublic(pub crypto.PublicKey) (crypto.PublicKey, Algorithm, error) {
	alg, err := AlgorithmOf(pub)
	if err != nil {
		return nil, "", err
	}
	if alg == ES256 {
		b, err := pub.(*ecdsa.PublicKey).Bytes()
		if err != nil {
			return nil, "", fmt.Errorf("%w: invalid P-256 point", ErrInvalidKey)
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
		if err != nil {
			return nil, "", fmt.Errorf("%w: invalid P-256 point", ErrInvalidKey)
		}
		return k, alg, nil
	}
	return pub, alg, nil
}

// signerAlgorithm returns the algorithm for a signer's public key.
func signerAlgorithm(key crypto.Signer) (Algorithm, error) {
	if key == nil {
		return "", fmt.Errorf("%w: nil key", ErrInvalidKey)
	}
	return AlgorithmOf(key.Public())
}

// MarshalPublicJWK returns the public JWK of pub with "kid" set to the
// device UUID, "alg" to its algorithm and "use" to "sig".
func MarshalPublicJWK(pub crypto.PublicKey, dev iomt.DeviceID) ([]byte, error) {
	pub, _, err := normalizePublic(pub)
	if err != nil {
		return nil, err
	}
	return encodeJWK(pub, nil, dev)
}

// MarshalPrivateJWK returns the private JWK of key (an *ecdsa.PrivateKey on
// P-256 or an ed25519.PrivateKey) with "kid" set to the device UUID. The
// result is a secret: store it with mode 0600, or better, keep the key in a
// secure element and never export it.
func MarshalPrivateJWK(key crypto.Signer, dev iomt.DeviceID) ([]byte, error) {
	if _, err := signerAlgorithm(key); err != nil {
		return nil, err
	}
	switch key.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("%w: key material is not exportable", ErrInvalidKey)
	}
	pub, _, err := normalizePublic(key.Public())
	if err != nil {
		return nil, err
	}
	return encodeJWK(pub, key, dev)
}

// ParsePublicJWK parses one public JWK whose "kid" is a device UUID and
// returns the validated key. Private key material, keys other than P-256
// ECDSA and Ed25519, points not on the curve, an "alg" that disagrees with
// the key type and a "use" other than "sig" fail with [ErrInvalidKey].
func ParsePublicJWK(b []byte) (crypto.PublicKey, iomt.DeviceID, error) {
	j, dev, err := parseJWK(b)
	if err != nil {
		return nil, iomt.DeviceID{}, err
	}
	return publicFromJWK(j, dev)
}

func publicFromJWK(j *jwk.Doc, dev iomt.DeviceID) (crypto.PublicKey, iomt.DeviceID, error) {
	if j.HasD {
		return nil, iomt.DeviceID{}, fmt.Errorf("%w: private key material where a public key belongs", ErrInvalidKey)
	}
	pub, err := jwkPublic(j)
	if err != nil {
		return nil, iomt.DeviceID{}, err
	}
	return pub, dev, nil
}

// ParsePrivateJWK parses one private JWK whose "kid" is a device UUID. The
// public members must match the private key.
func ParsePrivateJWK(b []byte) (crypto.Signer, iomt.DeviceID, error) {
	j, dev, err := parseJWK(b)
	if err != nil {
		return nil, iomt.DeviceID{}, err
	}
	k, err := jwkPrivate(j)
	if err != nil {
		return nil, iomt.DeviceID{}, err
	}
	return k, dev, nil
}

func parseJWK(b []byte) (*jwk.Doc, iomt.DeviceID, error) {
	if len(b) > MaxJWKSize {
		return nil, iomt.DeviceID{}, fmt.Errorf("%w: JWK above %d bytes", ErrOversize, MaxJWKSize)
	}
	j, err := decodeJWK(b)
	if err != nil {
		return nil, iomt.DeviceID{}, err
	}
	dev, err := jwkDevice(j)
	return j, dev, err
}

// readLimited reads at most limit bytes from path, failing with
// [ErrOversize] above it.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: file above %d bytes", ErrOversize, limit)
	}
	return b, nil
}

// LoadPrivateJWKFile reads a private JWK file written by
// [MarshalPrivateJWK] or "iomt keygen".
func LoadPrivateJWKFile(path string) (crypto.Signer, iomt.DeviceID, error) {
	b, err := readLimited(path, MaxJWKSize)
	if err != nil {
		return nil, iomt.DeviceID{}, err
	}
	return ParsePrivateJWK(b)
}

// LoadPublicJWKFile reads a public JWK file.
func LoadPublicJWKFile(path string) (crypto.PublicKey, iomt.DeviceID, error) {
	b, err := readLimited(path, MaxJWKSize)
	if err != nil {
		return nil, iomt.DeviceID{}, err
	}
	return ParsePublicJWK(b)
}
