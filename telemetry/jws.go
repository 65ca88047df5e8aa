package telemetry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/openiomt/sdk/iomt"
)

// MediaType is the JWS "typ" header of every telemetry envelope.
const MediaType = "iomt-telemetry+jws"

// b64 is base64url without padding (RFC 7515 §2). Strict decoding rejects
// non-zero trailing bits, so every byte string has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// appendHeader writes the canonical protected header. Members are in
// lexical order, which is also how most JOSE libraries write them.
func appendHeader(b []byte, alg Algorithm, kid iomt.DeviceID) []byte {
	b = append(b, `{"alg":"`...)
	b = append(b, alg...)
	b = append(b, `","kid":"`...)
	b, _ = kid.AppendText(b)
	return append(b, `","typ":"`+MediaType+`"}`...)
}

// signCompact builds header.payload.signature for payload with key.
func signCompact(key crypto.Signer, alg Algorithm, kid iomt.DeviceID, payload []byte, rnd io.Reader) ([]byte, error) {
	var hdr [128]byte
	h := appendHeader(hdr[:0], alg, kid)
	n := b64.EncodedLen(len(h)) + 1 + b64.EncodedLen(len(payload))
	out := make([]byte, n, n+1+b64.EncodedLen(64))
	b64.Encode(out, h)
	i := b64.EncodedLen(len(h))
	out[i] = '.'
	b64.Encode(out[i+1:], payload)
	sig, err := signInput(key, alg, out, rnd)
	if err != nil {
		return nil, err
	}
	out = append(out, '.')
	return b64.AppendEncode(out, sig), nil
}

// signInput signs the JWS signing input and returns the JWS signature bytes
// (raw r||s for ES256).
func signInput(key crypto.Signer, alg Algorithm, input []byte, rnd io.Reader) ([]byte, error) {
	switch alg {
	case EdDSA:
		sig, err := key.Sign(rnd, input, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("telemetry: signing: %w", err)
		}
		if len(sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("telemetry: signing: signer returned a malformed signature")
		}
		return sig, nil
	case ES256:
		d := sha256.Sum256(input)
		der, err := key.Sign(rnd, d[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("telemetry: signing: %w", err)
		}
		sig, ok := derToRaw(der)
		if !ok {
			return nil, fmt.Errorf("telemetry: signing: signer returned a malformed signature")
		}
		return sig, nil
	}
	return nil, fmt.Errorf("%w: use ES256 or EdDSA", ErrAlgorithm)
}

// derToRaw converts an ASN.1 ECDSA-Sig-Value to the 64-byte r||s form of
// RFC 7518 §3.4.
func derToRaw(der []byte) ([]byte, bool) {
	// SEQUENCE { INTEGER r, INTEGER s }, short-form lengths (at most 72 bytes).
	if len(der) < 8 || der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return nil, false
	}
	out := make([]byte, 64)
	rest := der[2:]
	for i := 0; i < 2; i++ {
		if len(rest) < 2 || rest[0] != 0x02 {
			return nil, false
		}
		l := int(rest[1])
		if l == 0 || l > 33 || len(rest) < 2+l {
			return nil, false
		}
		v := rest[2 : 2+l]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > 32 {
			return nil, false
		}
		copy(out[32*i+32-len(v):32*i+32], v)
		rest = rest[2+l:]
	}
	if len(rest) != 0 {
		return nil, false
	}
	return out, true
}

// rawToDER converts a 64-byte r||s signature to ASN.1 DER into dst (which
// needs room for 72 bytes) for ecdsa.VerifyASN1.
func rawToDER(dst []byte, sig []byte) []byte {
	dst = append(dst[:0], 0x30, 0)
	for i := 0; i < 2; i++ {
		v := sig[32*i : 32*i+32]
		for len(v) > 1 && v[0] == 0 {
			v = v[1:]
		}
		if v[0]&0x80 != 0 {
			dst = append(dst, 0x02, byte(len(v)+1), 0)
		} else {
			dst = append(dst, 0x02, byte(len(v)))
		}
		dst = append(dst, v...)
	}
	dst[1] = byte(len(dst) - 2)
	return dst
}

// verifySignature checks sig over input with pub for alg. The caller has
// checked that pub's type matches alg.
func verifySignature(alg Algorithm, pub crypto.PublicKey, input, sig []byte) bool {
	switch alg {
	case EdDSA:
		k, ok := pub.(ed25519.PublicKey)
		return ok && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, input, sig)
	case ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 {
			return false
		}
		d := sha256.Sum256(input)
		var buf [72]byte
		return ecdsa.VerifyASN1(k, d[:], rawToDER(buf[:0], sig))
	}
	return false
}
