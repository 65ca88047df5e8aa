package telemetry

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/openiomt/sdk/internal/jwk"
	"github.com/openiomt/sdk/iomt"
)

// JWKs are read and written by the module's strict codec, internal/jwk
// (EC P-256 and OKP Ed25519 only, no general JOSE machinery in the device
// build). The tests prove that go-jose and jwx read the JWKs written here
// and that JWKs written by them are read here. This file adds the
// telemetry rules: "kid" is a device UUID, errors are [ErrInvalidKey]
// (or [ErrOversize]).

// keyError turns a codec error into this package's error value, keeping
// the codec's description.
func keyError(err error) error {
	if errors.Is(err, jwk.ErrOversize) {
		return fmt.Errorf("%w: %s", ErrOversize, jwk.Detail(err))
	}
	return fmt.Errorf("%w: %s", ErrInvalidKey, jwk.Detail(err))
}

// decodeJWK parses one JWK object with the strict codec.
func decodeJWK(b []byte) (*jwk.Doc, error) {
	j, err := jwk.Decode(b)
	if err != nil {
		return nil, keyError(err)
	}
	return j, nil
}

// jwkDevice returns the device UUID in "kid".
func jwkDevice(j *jwk.Doc) (iomt.DeviceID, error) {
	if j.Kid == "" {
		return iomt.DeviceID{}, fmt.Errorf("%w: missing kid", ErrInvalidKey)
	}
	dev, err := iomt.ParseDeviceID(j.Kid)
	if err != nil {
		return iomt.DeviceID{}, fmt.Errorf("%w: kid is not a canonical device UUID", ErrInvalidKey)
	}
	return dev, nil
}

// jwkPublic returns the validated public key.
func jwkPublic(j *jwk.Doc) (crypto.PublicKey, error) {
	pub, _, err := j.Public()
	if err != nil {
		return nil, keyError(err)
	}
	return pub, nil
}

// jwkPrivate returns the validated private key; its public members must
// match.
func jwkPrivate(j *jwk.Doc) (crypto.Signer, error) {
	k, err := j.Private()
	if err != nil {
		return nil, keyError(err)
	}
	return k, nil
}

// encodeJWK writes a JWK with members in lexical order and "use":"sig".
// priv may be nil.
func encodeJWK(pub crypto.PublicKey, priv crypto.Signer, dev iomt.DeviceID) ([]byte, error) {
	if dev.IsZero() {
		return nil, fmt.Errorf("%w: zero device ID", ErrInvalidKey)
	}
	b, err := jwk.Encode(pub, priv, dev.String(), "sig")
	if err != nil {
		return nil, keyError(err)
	}
	return b, nil
}
