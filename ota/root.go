package ota

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Role lists the keys trusted for a role and how many of them must sign.
type Role struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

// Roles holds the two roles of a root document. Unknown roles are rejected.
type Roles struct {
	// Root keys sign root documents (and rotations).
	Root Role `json:"root"`
	// Targets keys sign release manifests.
	Targets Role `json:"targets"`
}

// Root is the trust root document. It is signed (JWS JSON general
// serialization, typ [TypeRoot]) by a threshold of its own root keys and,
// when it replaces version N, also by a threshold of version N's root keys.
//
// Wire form:
//
//	{"version":1,"expires":"2027-01-01T00:00:00Z",
//	 "keys":{"<kid>":{public JWK}},
//	 "roles":{"root":{"keyids":[...],"threshold":2},"targets":{"keyids":[...],"threshold":1}}}
//
// Key IDs are RFC 7638 SHA-256 thumbprints; a key listed under any other ID
// is rejected.
type Root struct {
	Version uint64                `json:"version"`
	Expires time.Time             `json:"expires"`
	Keys    map[string]*PublicKey `json:"keys"`
	Roles   Roles                 `json:"roles"`
}

// AddKey adds k to Keys under its ID and returns the ID.
func (r *Root) AddKey(k *PublicKey) string {
	if r.Keys == nil {
		r.Keys = map[string]*PublicKey{}
	}
	r.Keys[k.ID()] = k
	return k.ID()
}

// rootWire is the strict wire form: keys are parsed separately.
type rootWire struct {
	Version uint64                     `json:"version"`
	Expires time.Time                  `json:"expires"`
	Keys    map[string]json.RawMessage `json:"keys"`
	Roles   Roles                      `json:"roles"`
}

// validate checks every structural rule of a root.
func (r *Root) validate() error {
	if r.Version == 0 {
		return malformed("root", "version")
	}
	if r.Expires.IsZero() {
		return malformed("root", "expires")
	}
	if len(r.Keys) == 0 {
		return malformed("root", "keys")
	}
	if len(r.Keys) > MaxKeys {
		return &LimitError{Name: "MaxKeys", Limit: MaxKeys}
	}
	for id, k := range r.Keys {
		if k == nil || id != k.ID() {
			return malformed("root", "keys (key ID is not the key's RFC 7638 thumbprint)")
		}
	}
	for name, role := range map[string]Role{"roles.root": r.Roles.Root, "roles.targets": r.Roles.Targets} {
		if len(role.KeyIDs) == 0 || len(role.KeyIDs) > MaxKeys {
			return malformed("root", name+".keyids")
		}
		if role.Threshold < 1 || role.Threshold > len(role.KeyIDs) {
			return malformed("root", name+".threshold")
		}
		seen := map[string]bool{}
		for _, id := range role.KeyIDs {
			if seen[id] || r.Keys[id] == nil {
				return malformed("root", name+".keyids")
			}
			seen[id] = true
		}
	}
	return nil
}

// parseRootPayload decodes and validates a root payload.
func parseRootPayload(payload []byte) (*Root, error) {
	var w rootWire
	if err := decodeStrict("root", payload, &w); err != nil {
		return nil, err
	}
	if len(w.Keys) > MaxKeys {
		return nil, &LimitError{Name: "MaxKeys", Limit: MaxKeys}
	}
	r := &Root{Version: w.Version, Expires: w.Expires, Roles: w.Roles, Keys: map[string]*PublicKey{}}
	for id, raw := range w.Keys {
		k, err := parsePublicOnly(raw)
		if err != nil {
			return nil, &FieldError{Doc: "root", Field: "keys", Err: err}
		}
		r.Keys[id] = k
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// parsePublicOnly parses a JWK that must hold no private part.
func parsePublicOnly(data []byte) (*PublicKey, error) {
	j, err := parseJWK(data)
	if err != nil {
		return nil, err
	}
	if j.HasD {
		return nil, fmt.Errorf("%w: private key where a public key belongs", ErrKey)
	}
	raw, _, err := j.Public()
	if err != nil {
		return nil, keyError(err)
	}
	return newPublicKey(raw)
}

// checkRole verifies that d carries valid signatures from a threshold of
// r's role.
func (r *Root) checkRole(d *signedDoc, name string, role Role) error {
	if n := countValid(d, r.Keys, role); n < role.Threshold {
		return &SignatureError{Role: name, Version: r.Version, Valid: n, Threshold: role.Threshold}
	}
	return nil
}

// decodeRoot parses a signed root and checks it is signed by a threshold of
// its own root keys. It does not check expiry or any chain of trust.
func decodeRoot(data []byte) (*Root, *signedDoc, error) {
	d, err := parseJWS(data, TypeRoot, "MaxRootBytes", MaxRootBytes)
	if err != nil {
		return nil, nil, err
	}
	r, err := parseRootPayload(d.payload)
	if err != nil {
		return nil, nil, err
	}
	if err := r.checkRole(d, "root", r.Roles.Root); err != nil {
		return nil, nil, err
	}
	return r, d, nil
}

// ParseRoot parses a signed root document and checks that a threshold of
// its own root keys signed it. This proves internal consistency only, not
// trust: trust comes from a [Verifier] walking the chain from a root the
// device already holds. Expiry is not checked.
func ParseRoot(data []byte) (*Root, error) {
	r, _, err := decodeRoot(data)
	return r, err
}

// SignRoot validates r and signs it with keys (one signature per distinct
// key). For a rotation, pass a threshold of the previous root's root keys
// and of r's own root keys; SignRoot checks that r's own threshold is met.
func SignRoot(rand io.Reader, r *Root, keys []*PrivateKey) ([]byte, error) {
	if r == nil {
		return nil, malformed("root", "(nil)")
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("ota: encode root: %w", err)
	}
	out, err := signJWS(rand, payload, TypeRoot, keys)
	if err != nil {
		return nil, err
	}
	if _, _, err := decodeRoot(out); err != nil {
		return nil, err
	}
	return out, nil
}

// targetsRevoked reports whether next removes any targets key of r or
// raises the targets threshold: the trigger for fast-forward recovery.
func (r *Root) targetsRevoked(next *Root) bool {
	if next.Roles.Targets.Threshold > r.Roles.Targets.Threshold {
		return true
	}
	for _, id := range r.Roles.Targets.KeyIDs {
		if !slices.Contains(next.Roles.Targets.KeyIDs, id) {
			return true
		}
	}
	return false
}

// SignRootRotation signs next as the successor of prev: next.Version must be
// prev.Version+1, and keys must meet both prev's and next's root thresholds
// (so a device trusting prev accepts next). Devices check the same rules in
// [Verifier.UpdateRoot].
func SignRootRotation(rand io.Reader, prev, next *Root, keys []*PrivateKey) ([]byte, error) {
	if prev == nil || next == nil {
		return nil, malformed("root", "(nil)")
	}
	if next.Version != prev.Version+1 {
		return nil, ErrRootVersion
	}
	out, err := SignRoot(rand, next, keys)
	if err != nil {
		return nil, err
	}
	d, err := parseJWS(out, TypeRoot, "MaxRootBytes", MaxRootBytes)
	if err != nil {
		return nil, err
	}
	if err := prev.checkRole(d, "root", prev.Roles.Root); err != nil {
		return nil, err
	}
	return out, nil
}
