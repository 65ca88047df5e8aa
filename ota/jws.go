package ota

import (
	"encoding/json"
	"fmt"
	"io"
)

// Media types bound into every signature's protected header, so a root can
// never be replayed as a manifest or the reverse.
const (
	TypeRoot     = "iomt-ota-root+jws"
	TypeManifest = "iomt-ota-manifest+jws"
)

var b64strict = b64.Strict()

// jwsJSON is the JWS JSON general serialization (RFC 7515 section 7.2.1)
// restricted to protected headers: an unprotected "header" member is
// rejected, since nothing unsigned may influence verification.
type jwsJSON struct {
	Payload    string   `json:"payload"`
	Signatures []jwsSig `json:"signatures"`
}

type jwsSig struct {
	Protected string `json:"protected"`
	Signature string `json:"signature"`
}

// jwsHeader is the only protected header accepted: no crit, no b64, no
// embedded keys (jwk, jku, x5u, x5c), which would let a signature pick its
// own key.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// signedDoc is a parsed JWS whose signatures are not yet checked.
type signedDoc struct {
	payload []byte
	sigs    []parsedSig
}

type parsedSig struct {
	hdr   jwsHeader
	input []byte // ASCII(BASE64URL(protected) '.' BASE64URL(payload))
	sig   []byte
}

// signJWS produces the general JSON serialization of payload with one
// signature per distinct key.
func signJWS(rand io.Reader, payload []byte, typ string, keys []*PrivateKey) ([]byte, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no signing keys", ErrKey)
	}
	if len(keys) > MaxSignatures {
		return nil, &LimitError{Name: "MaxSignatures", Limit: MaxSignatures}
	}
	out := jwsJSON{Payload: b64.EncodeToString(payload)}
	seen := map[string]bool{}
	for _, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("%w: nil key", ErrKey)
		}
		if seen[k.ID()] {
			continue
		}
		seen[k.ID()] = true
		h, _ := json.Marshal(jwsHeader{Alg: k.pub.alg, Kid: k.ID(), Typ: typ})
		prot := b64.EncodeToString(h)
		sig, err := k.sign(rand, []byte(prot+"."+out.Payload))
		if err != nil {
			return nil, err
		}
		out.Signatures = append(out.Signatures, jwsSig{Protected: prot, Signature: b64.EncodeToString(sig)})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("ota: encode jws: %w", err)
	}
	return append(b, '\n'), nil
}

// parseJWS parses the serialization and the protected headers, bounded by
// the named limit, and checks every header's typ and alg.
func parseJWS(data []byte, typ string, limitName string, limit int) (*signedDoc, error) {
	if len(data) > limit {
		return nil, &LimitError{Name: limitName, Limit: int64(limit)}
	}
	var j jwsJSON
	if err := decodeStrict("jws", data, &j); err != nil {
		return nil, err
	}
	if len(j.Signatures) == 0 {
		return nil, malformed("jws", "signatures")
	}
	if len(j.Signatures) > MaxSignatures {
		return nil, &LimitError{Name: "MaxSignatures", Limit: MaxSignatures}
	}
	payload, err := b64strict.DecodeString(j.Payload)
	if err != nil || len(payload) == 0 {
		return nil, malformed("jws", "payload")
	}
	d := &signedDoc{payload: payload}
	for _, s := range j.Signatures {
		hb, err := b64strict.DecodeString(s.Protected)
		if err != nil {
			return nil, malformed("jws", "protected")
		}
		var h jwsHeader
		if err := decodeStrict("jws protected header", hb, &h); err != nil {
			return nil, err
		}
		if h.Alg != AlgES256 && h.Alg != AlgEdDSA {
			return nil, malformed("jws", "alg")
		}
		if h.Typ != typ {
			return nil, malformed("jws", "typ")
		}
		if h.Kid == "" || len(h.Kid) > MaxStringLen {
			return nil, malformed("jws", "kid")
		}
		sig, err := b64strict.DecodeString(s.Signature)
		if err != nil {
			return nil, malformed("jws", "signature")
		}
		d.sigs = append(d.sigs, parsedSig{hdr: h, input: []byte(s.Protected + "." + j.Payload), sig: sig})
	}
	return d, nil
}

// countValid returns how many distinct keys of role produced a valid
// signature. A key signing twice counts once; a signature whose kid is not
// in the role, whose alg differs from the key's, or which does not verify
// counts nothing.
func countValid(d *signedDoc, keys map[string]*PublicKey, role Role) int {
	allowed := make(map[string]bool, len(role.KeyIDs))
	for _, id := range role.KeyIDs {
		allowed[id] = true
	}
	valid := map[string]bool{}
	for _, s := range d.sigs {
		if !allowed[s.hdr.Kid] || valid[s.hdr.Kid] {
			continue
		}
		k := keys[s.hdr.Kid]
		if k == nil || k.alg != s.hdr.Alg {
			continue
		}
		if k.verify(s.input, s.sig) {
			valid[s.hdr.Kid] = true
		}
	}
	return len(valid)
}
