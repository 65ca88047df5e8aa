package provisioning

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// maxHeaderSize bounds a decoded JOSE protected header.
const maxHeaderSize = 1 << 10

// checkP256 accepts ECDSA P-256 keys only (provisioning and pairing keys).
func checkP256(pub crypto.PublicKey) (*ecdsa.PublicKey, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, ErrUnsupportedKey
	}
	return k, nil
}

// protectedHeader decodes the base64url protected header of a compact
// serialization into a closed set of members. Unknown members fail, which
// rejects "crit", "zip", "jku", "x5u" and other surprises.
func protectedHeader(seg []byte, allowed ...string) (map[string]any, error) {
	if len(seg) > base64.RawURLEncoding.EncodedLen(maxHeaderSize) {
		return nil, ErrTooLarge
	}
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(seg)))
	n, err := base64.RawURLEncoding.Decode(raw, seg)
	if err != nil {
		return nil, ErrMalformed
	}
	var h map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw[:n]))
	dec.UseNumber()
	if err := dec.Decode(&h); err != nil || dec.More() {
		return nil, ErrMalformed
	}
next:
	for k := range h {
		for _, a := range allowed {
			if k == a {
				continue next
			}
		}
		return nil, ErrMalformed
	}
	return h, nil
}

// signCompact signs payload as a compact JWS with ES256 and the given typ
// and kid (kid omitted when empty).
func signCompact(payload []byte, key crypto.Signer, kid, typ string) ([]byte, error) {
	hdr := jws.NewHeaders()
	if err := hdr.Set("typ", typ); err != nil {
		return nil, err
	}
	if kid != "" {
		if err := hdr.Set("kid", kid); err != nil {
			return nil, err
		}
	}
	return jws.Sign(payload, jws.WithKey(jwa.ES256(), key, jws.WithProtectedHeaders(hdr)))
}

// verifyCompact verifies a compact ES256 JWS whose typ is typ under pub and
// returns its payload. A header other than {alg:ES256, typ, [kid]} fails
// with ErrMalformed or ErrBadSignature ("alg":"none" and HMAC are
// signatures that do not verify).
func verifyCompact(buf []byte, pub *ecdsa.PublicKey, typ string) ([]byte, error) {
	parts := bytes.Split(buf, []byte{'.'})
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	h, err := protectedHeader(parts[0], "alg", "typ", "kid")
	if err != nil {
		return nil, err
	}
	if h["alg"] != "ES256" {
		return nil, ErrBadSignature
	}
	if h["typ"] != typ {
		return nil, ErrMalformed
	}
	payload, err := jws.Verify(buf, jws.WithKey(jwa.ES256(), pub))
	if err != nil {
		return nil, ErrBadSignature
	}
	return payload, nil
}

// encryptCompact encrypts payload to pub with ECDH-ES+A256KW / A256GCM.
func encryptCompact(payload []byte, pub *ecdsa.PublicKey, cty string) ([]byte, error) {
	hdr := jwe.NewHeaders()
	if err := hdr.Set("cty", cty); err != nil {
		return nil, err
	}
	return jwe.Encrypt(payload,
		jwe.WithKey(jwa.ECDH_ES_A256KW(), pub),
		jwe.WithContentEncryption(jwa.A256GCM()),
		jwe.WithProtectedHeaders(hdr),
		jwe.WithCompact())
}

// decryptCompact decrypts a compact JWE that must use ECDH-ES+A256KW /
// A256GCM with content type cty and no compression.
func decryptCompact(buf []byte, priv *ecdsa.PrivateKey, cty string) ([]byte, error) {
	parts := bytes.Split(buf, []byte{'.'})
	if len(parts) != 5 {
		return nil, ErrMalformed
	}
	h, err := protectedHeader(parts[0], "alg", "enc", "cty", "epk", "kid", "apu", "apv")
	if err != nil {
		return nil, err
	}
	if h["alg"] != "ECDH-ES+A256KW" || h["enc"] != "A256GCM" || h["cty"] != cty {
		return nil, ErrMalformed
	}
	pt, err := jwe.Decrypt(buf, jwe.WithKey(jwa.ECDH_ES_A256KW(), priv))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
