package telemetry

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Defaults of [VerifierConfig].
const (
	// DefaultMaxEnvelopeSize bounds a compact envelope. A blood-pressure
	// envelope is about 450 bytes.
	DefaultMaxEnvelopeSize = 4096
	// DefaultMaxClockSkew is how far in the future a measurement time may be.
	DefaultMaxClockSkew = 5 * time.Minute
	// DefaultMaxAge is how far in the past a measurement time may be. A
	// device buffers readings while offline, so this is generous.
	DefaultMaxAge = 30 * 24 * time.Hour
	// maxHeaderLen bounds the decoded protected header.
	maxHeaderLen = 512
)

// VerifierConfig configures [NewVerifier]. Keys is required; the zero value
// of every other field is ready to use.
type VerifierConfig struct {
	// Keys resolves a device's public key from the JWS "kid".
	Keys KeyResolver
	// Replay holds per-device replay state. Nil means a private
	// [MemoryReplayWindow] with default settings. Share one ReplayWindow
	// between all Verifiers of a process.
	Replay ReplayWindow
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// MaxClockSkew is how far after Now a measurement time ("ts") may lie.
	// Zero means DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// MaxAge is how far before Now a measurement time may lie. It must
	// exceed the longest time a device may buffer readings offline. Zero
	// means DefaultMaxAge.
	MaxAge time.Duration
	// MaxEnvelopeSize bounds the compact envelope in bytes. Zero means
	// DefaultMaxEnvelopeSize.
	MaxEnvelopeSize int
}

// Verifier checks telemetry envelopes, in this order: size; strict JWS
// syntax and header (exactly alg, kid, typ); the topic's device against
// "kid" when a topic is given; the device's key and status; algorithm
// against key type; the signature; the closed payload schema and PHI
// guard; "kid" = "dev"; the device's patient pairing when the resolver
// reports one; the topic's kind; the reading's physiological validity;
// time bounds; and the replay window. The sequence number is recorded
// only after every other check passed.
//
// The cryptography is crypto/ecdsa and crypto/ed25519 directly: the
// envelope's shape is fixed, so a general JOSE library would only add
// attack surface and cost. Any JOSE library verifies the same envelopes.
//
// A Verifier is safe for concurrent use. Create it with [NewVerifier]; the
// zero value is not usable.
type Verifier struct {
	keys    KeyResolver
	replay  ReplayWindow
	now     func() time.Time
	skew    time.Duration
	maxAge  time.Duration
	maxSize int
}

// NewVerifier validates cfg and returns a Verifier. cfg is copied.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, errors.New("telemetry: VerifierConfig.Keys is required")
	}
	if cfg.MaxClockSkew < 0 || cfg.MaxAge < 0 || cfg.MaxEnvelopeSize < 0 {
		return nil, errors.New("telemetry: VerifierConfig limits must not be negative")
	}
	if cfg.Replay == nil {
		w, err := NewMemoryReplayWindow(MemoryReplayConfig{})
		if err != nil {
			return nil, err
		}
		cfg.Replay = w
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxEnvelopeSize == 0 {
		cfg.MaxEnvelopeSize = DefaultMaxEnvelopeSize
	}
	return &Verifier{
		keys: cfg.Keys, replay: cfg.Replay, now: cfg.Now,
		skew: cfg.MaxClockSkew, maxAge: cfg.MaxAge, maxSize: cfg.MaxEnvelopeSize,
	}, nil
}

// Verify checks compact and records its sequence number in the replay
// window. It returns the payload, or a [*VerifyError] wrapping the sentinel
// of the first failed check: [ErrOversize], [ErrMalformed],
// [ErrUnknownField], [ErrAlgorithm], [ErrUnknownDevice],
// [ErrRevokedDevice], [ErrKeyResolution], [ErrBadSignature],
// [ErrUnsupportedVersion], [ErrPHI], [ErrKidMismatch],
// [ErrPatientMismatch], [ErrInvalidReading], [ErrTimeSkew], [ErrReplay] or
// [ErrSeqTooOld]. A cancelled ctx returns ctx.Err().
func (v *Verifier) Verify(ctx context.Context, compact []byte) (*Payload, error) {
	return v.verify(ctx, "", false, compact, true)
}

// VerifyTopic is Verify for an envelope received on an MQTT topic: the
// topic must be [Topic] of the payload's device and kind, or the envelope
// is rejected with [ErrTopicMismatch] (or [ErrInvalidTopic] wrapped in
// ErrTopicMismatch for a topic of the wrong form).
func (v *Verifier) VerifyTopic(ctx context.Context, topic string, compact []byte) (*Payload, error) {
	return v.verify(ctx, topic, true, compact, true)
}

// Check runs every check of VerifyTopic, including a read-only replay
// check, but records nothing. An ingest that must not lose a reading calls
// Check, stores the reading, then [Verifier.Commit]; if the store fails the
// envelope is still acceptable when the broker redelivers it. An empty
// topic skips the topic check.
func (v *Verifier) Check(ctx context.Context, topic string, compact []byte) (*Payload, error) {
	return v.verify(ctx, topic, topic != "", compact, false)
}

// Commit records p's sequence number in the replay window. It fails with
// [ErrReplay] if another worker committed it first — harmless when the
// store is idempotent on (device, seq).
func (v *Verifier) Commit(ctx context.Context, p *Payload) error {
	if p == nil {
		return errors.New("telemetry: Commit of nil payload")
	}
	return v.replay.Record(ctx, p.Device, p.Seq)
}

func (v *Verifier) verify(ctx context.Context, topic string, checkTopic bool, compact []byte, record bool) (*Payload, error) {
	if len(compact) > v.maxSize {
		return nil, rejectWhy(ErrOversize, "", "envelope above size limit")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var tok token
	if err := splitCompact(compact, &tok); err != nil {
		return nil, err
	}
	var topicDev iomt.DeviceID
	var topicKind iomt.Kind
	if checkTopic {
		// Before any key lookup or signature check: junk published on a
		// device's topic costs the verifier next to nothing.
		var err error
		if topicDev, topicKind, err = ParseTopic(topic); err != nil {
			return nil, rejectCause(ErrTopicMismatch, "topic", ErrInvalidTopic)
		}
		if topicDev != tok.kid {
			return nil, reject(ErrTopicMismatch, "topic")
		}
	}
	dk, err := v.keys.ResolveDeviceKey(ctx, tok.kid)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownDevice):
		return nil, rejectCause(ErrUnknownDevice, "kid", nil)
	case errors.Is(err, ErrRevokedDevice):
		return nil, rejectCause(ErrRevokedDevice, "kid", nil)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		return nil, rejectCause(ErrKeyResolution, "kid", err)
	}
	if dk.Status != KeyActive {
		return nil, rejectWhy(ErrRevokedDevice, "kid", "key status "+dk.Status.String())
	}
	// AlgorithmOf also refuses nil keys, other curves and malformed
	// Ed25519 keys, on which the crypto packages would panic.
	keyAlg, err := AlgorithmOf(dk.Key)
	if err != nil {
		return nil, rejectWhy(ErrAlgorithm, "alg", "device key type not allowed")
	}
	if tok.alg != keyAlg {
		return nil, rejectWhy(ErrAlgorithm, "alg", "does not match the device key type")
	}
	if !verifySignature(tok.alg, dk.Key, tok.input, tok.sig[:]) {
		return nil, reject(ErrBadSignature, "")
	}
	p, err := ParsePayload(tok.payload)
	if err != nil {
		return nil, err
	}
	if p.Device != tok.kid {
		return nil, reject(ErrKidMismatch, "dev")
	}
	if !dk.Patient.IsZero() && p.Patient != dk.Patient {
		return nil, reject(ErrPatientMismatch, "pat")
	}
	if checkTopic && (topicDev != p.Device || topicKind != p.Kind) {
		return nil, reject(ErrTopicMismatch, "topic")
	}
	if err := p.Reading.Validate(); err != nil {
		return nil, rejectCause(ErrInvalidReading, "data", err)
	}
	now := v.now()
	if p.Time.After(now.Add(v.skew)) {
		return nil, rejectWhy(ErrTimeSkew, "ts", "in the future")
	}
	if p.Time.Before(now.Add(-v.maxAge)) {
		return nil, rejectWhy(ErrTimeSkew, "ts", "older than the maximum age")
	}
	if record {
		err = v.replay.Record(ctx, p.Device, p.Seq)
	} else {
		err = v.replay.Check(ctx, p.Device, p.Seq)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// token is a compact JWS split and decoded, before any key is involved.
type token struct {
	alg     Algorithm
	kid     iomt.DeviceID
	input   []byte   // header.payload as received: the signing input
	payload []byte   // decoded
	sig     [64]byte // decoded; both algorithms have 64-byte signatures
}

// splitCompact parses the three segments strictly: exactly two dots,
// base64url alphabet only (no padding, whitespace or line breaks), the
// canonical bit pattern, and a protected header of exactly alg, kid, typ.
func splitCompact(b []byte, t *token) error {
	d1, d2 := -1, -1
	for i, c := range b {
		if b64urlAlphabet[c] {
			continue
		}
		switch {
		case c == '.' && d1 < 0:
			d1 = i
		case c == '.' && d2 < 0:
			d2 = i
		case c == '.':
			return rejectWhy(ErrMalformed, "", "more than three segments")
		default:
			return rejectWhy(ErrMalformed, "", "character outside base64url")
		}
	}
	if d2 < 0 {
		return rejectWhy(ErrMalformed, "", "not three segments")
	}
	hseg, pseg, sseg := b[:d1], b[d1+1:d2], b[d2+1:]
	if len(hseg) == 0 || len(pseg) == 0 {
		return rejectWhy(ErrMalformed, "", "empty segment")
	}
	if len(sseg) == 0 {
		return rejectWhy(ErrAlgorithm, "alg", "unsigned envelope")
	}
	if b64.DecodedLen(len(hseg)) > maxHeaderLen {
		return rejectWhy(ErrOversize, "header", "protected header too large")
	}
	var hbuf [maxHeaderLen]byte
	hn, err := b64.Decode(hbuf[:], hseg)
	if err != nil {
		return rejectWhy(ErrMalformed, "header", "base64url")
	}
	t.input = b[:d2]
	if !parseCanonicalHeader(hbuf[:hn], t) {
		// The general parser may retain its input; give it a heap copy so
		// that hbuf stays on the stack.
		if err := parseHeader(bytes.Clone(hbuf[:hn]), t); err != nil {
			return err
		}
	}
	if b64.DecodedLen(len(sseg)) != len(t.sig) {
		if _, err := b64.DecodeString(string(sseg)); err != nil {
			return rejectWhy(ErrMalformed, "signature", "base64url")
		}
		return rejectWhy(ErrBadSignature, "", "wrong signature length")
	}
	if _, err := b64.Decode(t.sig[:], sseg); err != nil {
		return rejectWhy(ErrMalformed, "signature", "base64url")
	}
	t.payload = make([]byte, b64.DecodedLen(len(pseg)))
	n, err := b64.Decode(t.payload, pseg)
	if err != nil {
		return rejectWhy(ErrMalformed, "payload", "base64url")
	}
	t.payload = t.payload[:n]
	return nil
}

// b64urlAlphabet marks the bytes of the base64url alphabet.
var b64urlAlphabet = func() (a [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		a[c] = true
	}
	return a
}()

// parseCanonicalHeader recognises, without a JSON scan, the exact header
// this package's signer writes, and reports whether h was one.
func parseCanonicalHeader(h []byte, t *token) bool {
	const suf = `","typ":"` + MediaType + `"}`
	for _, c := range [...]struct {
		alg Algorithm
		pre string
	}{{ES256, `{"alg":"ES256","kid":"`}, {EdDSA, `{"alg":"EdDSA","kid":"`}} {
		if len(h) == len(c.pre)+36+len(suf) && string(h[:len(c.pre)]) == c.pre && string(h[len(h)-len(suf):]) == suf {
			kid, err := iomt.ParseDeviceID(string(h[len(c.pre) : len(h)-len(suf)]))
			if err != nil {
				return false // the general parser reports it
			}
			t.alg, t.kid = c.alg, kid
			return true
		}
	}
	return false
}

// parseHeader accepts a JSON object with exactly the members alg, kid and
// typ, all strings, each once.
func parseHeader(h []byte, t *token) error {
	s := scanner{b: h}
	if !s.eat('{') {
		return rejectWhy(ErrMalformed, "header", "not a JSON object")
	}
	var alg, kid, typ string
	var seen, unknown int
	if !s.eat('}') {
		for n := 0; ; n++ {
			if n == 16 {
				return rejectWhy(ErrOversize, "header", "too many members")
			}
			raw, esc, ok := s.str()
			if !ok || !s.eat(':') {
				return rejectWhy(ErrMalformed, "header", "member name")
			}
			var val string
			if s.kind() == vString {
				vraw, vesc, ok := s.str()
				if !ok {
					return rejectWhy(ErrMalformed, "header", "string")
				}
				if val, ok = unquote(vraw, vesc); !ok {
					return rejectWhy(ErrMalformed, "header", "string")
				}
			} else if err := skipHeaderValue(&s); err != nil {
				return err
			} else {
				val = "\x00" // non-string: never a valid value
			}
			bit := 0
			switch {
			case keyIs(raw, esc, "alg"):
				bit, alg = 1, val
			case keyIs(raw, esc, "kid"):
				bit, kid = 2, val
			case keyIs(raw, esc, "typ"):
				bit, typ = 4, val
			default:
				unknown++
			}
			if bit != 0 {
				if seen&bit != 0 {
					return rejectWhy(ErrMalformed, "header", "duplicate member")
				}
				seen |= bit
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return rejectWhy(ErrMalformed, "header", "expected comma or brace")
		}
	}
	if !s.eof() {
		return rejectWhy(ErrMalformed, "header", "trailing bytes")
	}
	a := Algorithm(alg)
	if seen&1 == 0 || !a.Valid() {
		return rejectWhy(ErrAlgorithm, "alg", "only ES256 and EdDSA are allowed")
	}
	if unknown > 0 {
		return rejectWhy(ErrUnknownField, "header", "parameter other than alg, kid, typ")
	}
	if typ != MediaType {
		if DetectPHI(typ) != PHINone {
			return rejectWhy(ErrPHI, "typ", "free text")
		}
		return rejectWhy(ErrMalformed, "typ", "not "+MediaType)
	}
	id, err := iomt.ParseDeviceID(kid)
	if err != nil {
		if DetectPHI(kid) != PHINone {
			return rejectWhy(ErrPHI, "kid", "free text")
		}
		return rejectWhy(ErrMalformed, "kid", "not a canonical device UUID")
	}
	t.alg, t.kid = a, id
	return nil
}

// skipHeaderValue moves past a non-string header value (number, literal,
// or an object/array) without interpreting it; nesting is bounded by the
// header size.
func skipHeaderValue(s *scanner) error {
	switch s.kind() {
	case vNumber:
		if _, _, ok := s.number(); ok {
			return nil
		}
	case vBool, vNull:
		if _, ok := s.literal(); ok {
			return nil
		}
	case vObject, vArray:
		depth := 0
		for s.i < len(s.b) {
			switch c := s.b[s.i]; c {
			case '"':
				if _, _, ok := s.str(); !ok {
					return rejectWhy(ErrMalformed, "header", "string")
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return nil
			}
		}
	}
	return rejectWhy(ErrMalformed, "header", "value")
}
