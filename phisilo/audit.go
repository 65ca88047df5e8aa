package phisilo

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Outcome is the result of an audited action.
type Outcome string

// Outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeDenied  Outcome = "denied"
	OutcomeFailure Outcome = "failure" // allowed, but failed (not found, decryption, storage)
)

// AuditEvent is what the silo records for every access, allowed or denied.
// It carries identifiers and rule names, never record contents.
type AuditEvent struct {
	Time    time.Time `json:"time"`
	Tenant  string    `json:"tenant"`
	UserID  string    `json:"user"`
	Role    Role      `json:"role"`
	Action  Action    `json:"action"`
	Patient string    `json:"patient,omitempty"` // patient UUID, if any
	Outcome Outcome   `json:"outcome"`
	Purpose Purpose   `json:"purpose"`
	Source  string    `json:"source,omitempty"`
	GrantID string    `json:"grant,omitempty"`
	// Reason is the policy rule on denial or the failure class ("not-found").
	Reason string `json:"reason,omitempty"`
	// Justification is the break-glass reason the clinician typed. It must
	// not contain PHI; the HTTP API and the UI say so.
	Justification string `json:"justification,omitempty"`
	// Alert marks events a security officer must review (break-glass).
	Alert bool `json:"alert,omitempty"`
	// Target names a non-patient object (an account user ID).
	Target string `json:"target,omitempty"`
}

// AuditRecord is an audit entry decoded for queries and exports.
type AuditRecord struct {
	Seq   uint64     `json:"seq"`
	Hash  string     `json:"hash"` // hex
	Event AuditEvent `json:"event"`
}

// DecodeAuditEntry parses an entry's body.
func DecodeAuditEntry(e AuditEntry) (AuditRecord, error) {
	var ev AuditEvent
	if len(e.Body) > maxAuditBody {
		return AuditRecord{}, &LimitError{Limit: "audit body", Max: maxAuditBody}
	}
	d := json.NewDecoder(bytes.NewReader(e.Body))
	d.DisallowUnknownFields()
	if err := d.Decode(&ev); err != nil {
		return AuditRecord{}, &FieldError{Field: "audit.body", Reason: "malformed event"}
	}
	return AuditRecord{Seq: e.Seq, Hash: hex.EncodeToString(e.Hash), Event: ev}, nil
}

const maxAuditBody = 8 << 10

var chainDomain = []byte("openiomt/phisilo audit v1\x00")

// ChainHash is the hash of audit entry seq: SHA-256 over a domain string,
// the previous entry's hash (32 zero bytes for the first), seq as 8
// big-endian bytes, and the body. Backends that compute it in SQL must
// produce exactly this.
func ChainHash(prev []byte, seq uint64, body []byte) []byte {
	h := sha256.New()
	h.Write(chainDomain)
	h.Write(prev)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	h.Write(body)
	return h.Sum(nil)
}

// GenesisHash returns the Prev of the first entry: 32 zero bytes (a new
// slice each call).
func GenesisHash() []byte { return make([]byte, sha256.Size) }

// CheckpointPayload is the signed content of a [Checkpoint].
type CheckpointPayload struct {
	V    int       `json:"v"`
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"` // hex of the entry's Hash
	Time time.Time `json:"time"`
}

// CheckpointType is the JWS "typ" header of checkpoints.
const CheckpointType = "phisilo-checkpoint+jws"

func signatureAlg(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return jwa.EdDSA(), nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwa.ES256(), nil
		}
	}
	return jwa.SignatureAlgorithm{}, &FieldError{Field: "checkpoint key", Reason: "must be Ed25519 or ECDSA P-256"}
}

// SignCheckpoint signs the chain head at e with key (Ed25519 or ECDSA P-256).
func SignCheckpoint(key crypto.Signer, e AuditEntry, now time.Time) (Checkpoint, error) {
	alg, err := signatureAlg(key.Public())
	if err != nil {
		return Checkpoint{}, err
	}
	payload, err := json.Marshal(CheckpointPayload{V: 1, Seq: e.Seq, Hash: hex.EncodeToString(e.Hash), Time: now.UTC()})
	if err != nil {
		return Checkpoint{}, err
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.TypeKey, CheckpointType); err != nil {
		return Checkpoint{}, err
	}
	var raw any = key
	if k, ok := key.(ed25519.PrivateKey); ok {
		raw = k
	} else if k, ok := key.(*ecdsa.PrivateKey); ok {
		raw = k
	}
	sig, err := jws.Sign(payload, jws.WithKey(alg, raw, jws.WithProtectedHeaders(h)))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("phisilo: sign checkpoint: %w", err)
	}
	return Checkpoint{Seq: e.Seq, JWS: string(sig)}, nil
}

// maxCheckpointJWS bounds a stored checkpoint.
const maxCheckpointJWS = 4 << 10

// VerifyCheckpoint checks a checkpoint's signature and returns its payload.
func VerifyCheckpoint(pub crypto.PublicKey, c Checkpoint) (CheckpointPayload, error) {
	bad := &AuditVerifyError{Seq: c.Seq, Reason: "checkpoint-signature"}
	if len(c.JWS) > maxCheckpointJWS {
		return CheckpointPayload{}, bad
	}
	alg, err := signatureAlg(pub)
	if err != nil {
		return CheckpointPayload{}, err
	}
	msg, err := jws.Parse([]byte(c.JWS))
	if err != nil || len(msg.Signatures()) != 1 {
		return CheckpointPayload{}, bad
	}
	if typ, ok := msg.Signatures()[0].ProtectedHeaders().Type(); !ok || typ != CheckpointType {
		return CheckpointPayload{}, bad
	}
	payload, err := jws.Verify([]byte(c.JWS), jws.WithKey(alg, pub))
	if err != nil {
		return CheckpointPayload{}, bad
	}
	var p CheckpointPayload
	d := json.NewDecoder(bytes.NewReader(payload))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil || p.V != 1 || p.Seq != c.Seq {
		return CheckpointPayload{}, bad
	}
	return p, nil
}

// VerifyOptions configure audit verification.
type VerifyOptions struct {
	// PublicKey verifies checkpoints. Nil checks the hash chain only, which
	// detects edits, deletions, insertions and reordering by anyone who does
	// not recompute the hashes after their change; signed checkpoints also
	// catch those who do, up to the last checkpoint.
	PublicKey crypto.PublicKey
	// CheckpointEvery, if non-zero, requires a checkpoint at every multiple
	// of it, so deleting checkpoints is detected too.
	CheckpointEvery uint64
}

// ChainVerifier checks an audit log fed in order, page by page. It keeps
// only the previous hash and the checkpoint heads in memory.
// The zero value is not usable; use [NewChainVerifier].
type ChainVerifier struct {
	opts    VerifyOptions
	cps     map[uint64][]byte
	maxCP   uint64
	next    uint64
	prev    []byte
	err     error
	entries uint64
}

// NewChainVerifier verifies every checkpoint's signature up front (if a
// public key is set) and returns a verifier expecting entry 1 next.
func NewChainVerifier(opts VerifyOptions, checkpoints []Checkpoint) (*ChainVerifier, error) {
	v := &ChainVerifier{opts: opts, cps: map[uint64][]byte{}, next: 1, prev: GenesisHash()}
	if opts.PublicKey == nil {
		return v, nil
	}
	for _, c := range checkpoints {
		p, err := VerifyCheckpoint(opts.PublicKey, c)
		if err != nil {
			return nil, err
		}
		h, err := hex.DecodeString(p.Hash)
		if err != nil || len(h) != sha256.Size {
			return nil, &AuditVerifyError{Seq: c.Seq, Reason: "checkpoint-signature"}
		}
		v.cps[c.Seq] = h
		v.maxCP = max(v.maxCP, c.Seq)
	}
	return v, nil
}

// Add checks the next entries. After the first failure it keeps returning it.
func (v *ChainVerifier) Add(entries ...AuditEntry) error {
	for _, e := range entries {
		if v.err != nil {
			return v.err
		}
		fail := func(reason string, seq uint64) error {
			v.err = &AuditVerifyError{Seq: seq, Reason: reason}
			return v.err
		}
		if e.Seq != v.next {
			return fail("sequence", v.next)
		}
		if subtle.ConstantTimeCompare(e.Prev, v.prev) != 1 {
			return fail("prev-hash", e.Seq)
		}
		h := ChainHash(v.prev, e.Seq, e.Body)
		if subtle.ConstantTimeCompare(h, e.Hash) != 1 {
			return fail("hash", e.Seq)
		}
		if cp, ok := v.cps[e.Seq]; ok && subtle.ConstantTimeCompare(cp, h) != 1 {
			return fail("checkpoint-hash", e.Seq)
		}
		if v.opts.PublicKey != nil && v.opts.CheckpointEvery > 0 && e.Seq%v.opts.CheckpointEvery == 0 {
			if _, ok := v.cps[e.Seq]; !ok {
				return fail("checkpoint-missing", e.Seq)
			}
		}
		v.prev = h
		v.next++
		v.entries++
	}
	return nil
}

// Finish reports truncation: a checkpoint beyond the last entry seen.
// It returns the number of entries verified.
func (v *ChainVerifier) Finish() (uint64, error) {
	if v.err != nil {
		return v.entries, v.err
	}
	if v.maxCP >= v.next {
		v.err = &AuditVerifyError{Seq: v.next, Reason: "truncated"}
		return v.entries, v.err
	}
	return v.entries, nil
}

// VerifyAudit verifies a whole log: every checkpoint, then every entry in
// pages of auditPage. It returns the number of entries verified, or an
// [*AuditVerifyError] naming the first bad entry.
func VerifyAudit(ctx context.Context, b Backend, opts VerifyOptions) (uint64, error) {
	var cps []Checkpoint
	var after uint64
	for {
		page, err := b.Checkpoints(ctx, after, auditPage)
		if err != nil {
			return 0, err
		}
		cps = append(cps, page...)
		if len(page) < auditPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	v, err := NewChainVerifier(opts, cps)
	if err != nil {
		return 0, err
	}
	after = 0
	for {
		page, err := b.Audit(ctx, after, auditPage)
		if err != nil {
			return 0, err
		}
		if err := v.Add(page...); err != nil {
			return 0, err
		}
		if len(page) < auditPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	return v.Finish()
}

const auditPage = 1000
