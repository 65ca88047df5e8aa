package ota

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"

	"github.com/openiomt/sdk/internal/jwk"
)

// Signature algorithms. Only these two are accepted anywhere in the package.
const (
	AlgES256 = "ES256" // ECDSA on P-256 with SHA-256, signature R||S (RFC 7518)
	AlgEdDSA = "EdDSA" // Ed25519 (RFC 8037)
)

var b64 = base64.RawURLEncoding

// PublicKey is a verification key. Its ID is the RFC 7638 JWK SHA-256
// thumbprint, base64url: the same key always has the same ID, so one key can
// never be counted twice toward a threshold under two names.
type PublicKey struct {
	id  string
	alg string
	key crypto.PublicKey // *ecdsa.PublicKey (P-256) or ed25519.PublicKey
}

// ID returns the key ID (RFC 7638 SHA-256 thumbprint, base64url).
func (k *PublicKey) ID() string { return k.id }

// Algorithm returns AlgES256 or AlgEdDSA.
func (k *PublicKey) Algorithm() string { return k.alg }

// MarshalJSON encodes the key as a public JWK with kid and alg.
func (k *PublicKey) MarshalJSON() ([]byte, error) {
	b, err := jwk.Encode(k.key, nil, k.id, "")
	if err != nil {
		return nil, keyError(err)
	}
	return b, nil
}

// members returns the RFC 7638 required members.
func (k *PublicKey) members() map[string]string {
	switch pk := k.key.(type) {
	case *ecdsa.PublicKey:
		return map[string]string{"kty": "EC", "crv": "P-256",
			"x": b64.EncodeToString(pad32(pk.X)), "y": b64.EncodeToString(pad32(pk.Y))}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(pk)}
	}
	return nil
}

func pad32(n *big.Int) []byte {
	b := make([]byte, 32)
	return n.FillBytes(b)
}

// thumbprint computes the RFC 7638 thumbprint: SHA-256 over the required
// members in lexicographic order, no whitespace (json.Marshal sorts map keys).
func (k *PublicKey) thumbprint() string {
	j, _ := json.Marshal(k.members())
	sum := sha256.Sum256(j)
	return b64.EncodeToString(sum[:])
}

func newPublicKey(raw crypto.PublicKey) (*PublicKey, error) {
	k := &PublicKey{}
	switch pk := raw.(type) {
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: EC key not on P-256", ErrKey)
		}
		if _, err := pk.ECDH(); err != nil { // rejects points not on the curve
			return nil, fmt.Errorf("%w: EC point invalid", ErrKey)
		}
		k.alg, k.key = AlgES256, pk
	case ed25519.PublicKey:
		if len(pk) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 key size", ErrKey)
		}
		k.alg, k.key = AlgEdDSA, pk
	default:
		return nil, fmt.Errorf("%w: key type not ES256 or EdDSA", ErrKey)
	}
	k.id = k.thumbprint()
	return k, nil
}

// verify checks sig over msg.
func (k *PublicKey) verify(msg, sig []byte) bool {
	switch pk := k.key.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(msg)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pk, h[:], r, s)
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(pk, msg, sig)
	}
	return false
}

// parseJWK decodes a JWK with the module's strict codec (internal/jwk).
// Its "kid" is not interpreted: a key's ID is always its thumbprint.
func parseJWK(data []byte) (*jwk.Doc, error) {
	if len(data) > MaxRootBytes {
		return nil, &LimitError{Name: "MaxRootBytes", Limit: MaxRootBytes}
	}
	j, err := jwk.Decode(data)
	if err != nil {
		return nil, keyError(err)
	}
	return j, nil
}

// keyError wraps a codec error into [ErrKey], keeping its description.
func keyError(err error) error {
	return fmt.Errorf("%w: %s", ErrKey, jwk.Detail(err))
}

// ParsePublicKey parses a JWK. A private JWK is accepted (it must be
// valid) and reduced to its public part. Only EC P-256 (ES256) and OKP
// Ed25519 (EdDSA) are supported.
func ParsePublicKey(jwkJSON []byte) (*PublicKey, error) {
	j, err := parseJWK(jwkJSON)
	if err != nil {
		return nil, err
	}
	if j.HasD {
		s, err := j.Private()
		if err != nil {
			return nil, keyError(err)
		}
		return newPublicKey(s.Public())
	}
	raw, _, err := j.Public()
	if err != nil {
		return nil, keyError(err)
	}
	return newPublicKey(raw)
}

// PrivateKey signs roots and manifests. It never appears in logs: its
// [slog.LogValuer] and String print only the key ID.
type PrivateKey struct {
	pub    *PublicKey
	signer crypto.Signer
}

// ParsePrivateKey parses a private JWK (ES256 or EdDSA).
func ParsePrivateKey(jwkJSON []byte) (*PrivateKey, error) {
	j, err := parseJWK(jwkJSON)
	if err != nil {
		return nil, err
	}
	s, err := j.Private()
	if err != nil {
		return nil, keyError(err)
	}
	return NewPrivateKey(s)
}

// NewPrivateKey wraps a crypto.Signer (an *ecdsa.PrivateKey on P-256, an
// ed25519.PrivateKey, or an HSM/KMS signer with such a public key).
func NewPrivateKey(s crypto.Signer) (*PrivateKey, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil signer", ErrKey)
	}
	pub, err := newPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	return &PrivateKey{pub: pub, signer: s}, nil
}

// GenerateKey creates a new key for alg (AlgES256 or AlgEdDSA) from rand.
func GenerateKey(alg string, rand io.Reader) (*PrivateKey, error) {
	switch alg {
	case AlgES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("ota: generate key: %w", err)
		}
		return NewPrivateKey(k)
	case AlgEdDSA:
		_, k, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("ota: generate key: %w", err)
		}
		return NewPrivateKey(k)
	}
	return nil, fmt.Errorf("%w: algorithm not ES256 or EdDSA", ErrKey)
}

// Public returns the verification key.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// ID returns the key ID of the public key.
func (k *PrivateKey) ID() string { return k.pub.id }

// String prints only the key ID.
func (k *PrivateKey) String() string { return "ota.PrivateKey(" + k.pub.id + ")" }

// LogValue redacts the key material.
func (k *PrivateKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.pub.id), slog.String("alg", k.pub.alg))
}

// MarshalPrivateJWK encodes the private key as a JWK (for key files written
// with mode 0600). It fails for signers whose private part is not exportable.
func (k *PrivateKey) MarshalPrivateJWK() ([]byte, error) {
	switch k.signer.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("%w: signer not exportable", ErrKey)
	}
	b, err := jwk.Encode(k.pub.key, k.signer, k.pub.id, "")
	if err != nil {
		return nil, keyError(err)
	}
	return b, nil
}

// sign signs msg with the JWS algorithm's encoding.
func (k *PrivateKey) sign(rand io.Reader, msg []byte) ([]byte, error) {
	switch k.pub.alg {
	case AlgES256:
		h := sha256.Sum256(msg)
		if ek, ok := k.signer.(*ecdsa.PrivateKey); ok {
			r, s, err := ecdsa.Sign(rand, ek, h[:])
			if err != nil {
				return nil, fmt.Errorf("ota: sign: %w", err)
			}
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
			return sig, nil
		}
		der, err := k.signer.Sign(rand, h[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("ota: sign: %w", err)
		}
		return derToRS(der)
	default:
		sig, err := k.signer.Sign(rand, msg, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("ota: sign: %w", err)
		}
		return sig, nil
	}
}
