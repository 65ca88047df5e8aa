package telemetry

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Attack scenarios against the Verifier, one per rejection, each named
// after the attack. Every rejection must carry its own sentinel and must
// not echo attacker-supplied text.

const hdrES256 = `{"alg":"ES256","kid":"6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70","typ":"iomt-telemetry+jws"}`
const hdrEdDSA = `{"alg":"EdDSA","kid":"6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70","typ":"iomt-telemetry+jws"}`

func hdrFor(alg Algorithm) string {
	if alg == ES256 {
		return hdrES256
	}
	return hdrEdDSA
}

// payloadWith returns a valid payload (seq 5, one minute before testNow)
// with the "data" member replaced by data and extra members appended.
func payloadWith(data, extra string) string {
	return `{"v":1,"dev":"` + testDev.String() + `","pat":"` + testPat.String() +
		`","seq":5,"ts":"2026-11-25T03:59:00Z","kind":"blood_pressure","data":` + data + extra + `}`
}

const goodData = `{"sys":120,"dia":80,"unit":0,"status":0}`

// expectReject verifies compact and requires the sentinel want, a
// *VerifyError, and that the message contains none of secrets.
func expectReject(t *testing.T, v *Verifier, compact []byte, want error, secrets ...string) {
	t.Helper()
	p, err := v.Verify(context.Background(), compact)
	if err == nil {
		t.Fatalf("accepted: %+v", p)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("%v is not a *VerifyError", err)
	}
	if !strings.HasPrefix(err.Error(), "telemetry: ") {
		t.Fatalf("message %q lacks the package prefix", err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("message %q echoes attacker text %q", err, s)
		}
	}
}

func TestForgedSignature(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			env := f.sign(t, testBP(testNow))
			forged := append([]byte(nil), env.Compact...)
			// Flip a bit in the middle of the signature segment.
			i := len(forged) - 20
			forged[i] = nextB64(forged[i])[0]
			expectReject(t, f.verifier, forged, ErrBadSignature)
			// A signature by a key the device does not own.
			mallory := testKey(t, alg, "mallory")
			expectReject(t, f.verifier, signRaw(t, mallory, alg, []byte(hdrFor(alg)), []byte(payloadWith(goodData, ""))), ErrBadSignature)
			// An all-zero ECDSA signature (r = s = 0) and an all-zero Ed25519 one.
			parts := strings.Split(string(env.Compact), ".")
			zero := parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64))
			expectReject(t, f.verifier, []byte(zero), ErrBadSignature)
			// A signature of the wrong length.
			short := parts[0] + "." + parts[1] + "." + parts[2][:40]
			expectReject(t, f.verifier, []byte(short), ErrBadSignature)
		})
	}
}

func TestTamperPayload(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			env := f.sign(t, testBP(testNow))
			parts := strings.Split(string(env.Compact), ".")
			p, _ := b64.DecodeString(parts[1])
			tampered := strings.Replace(string(p), `"sys":121`, `"sys":181`, 1)
			if tampered == string(p) {
				t.Fatal("tamper did not change the payload")
			}
			compact := parts[0] + "." + b64.EncodeToString([]byte(tampered)) + "." + parts[2]
			expectReject(t, f.verifier, []byte(compact), ErrBadSignature)
			// Swapping in another device's header keeps the signature invalid.
			h := strings.Replace(hdrFor(alg), testDev.String(), testDev2.String(), 1)
			f.resolver.Add(testDev2, f.key.Public())
			compact = b64.EncodeToString([]byte(h)) + "." + parts[1] + "." + parts[2]
			expectReject(t, f.verifier, []byte(compact), ErrBadSignature)
		})
	}
}

func TestReplayDuplicateSequence(t *testing.T) {
	f := newFixture(t, EdDSA)
	env := f.sign(t, testBP(testNow))
	if _, err := f.verifier.Verify(context.Background(), env.Compact); err != nil {
		t.Fatal(err)
	}
	expectReject(t, f.verifier, env.Compact, ErrReplay)
	// A re-encoding with a fresh ECDSA/Ed25519 signature over the same
	// payload is still a replay: the window is keyed by (device, seq).
	g := newFixture(t, ES256)
	e1 := g.sign(t, testBP(testNow))
	parts := strings.Split(string(e1.Compact), ".")
	p, _ := b64.DecodeString(parts[1])
	again := signRaw(t, g.key, ES256, []byte(hdrES256), p)
	if string(again) == string(e1.Compact) {
		t.Fatal("ECDSA signatures should be randomised")
	}
	if _, err := g.verifier.Verify(context.Background(), e1.Compact); err != nil {
		t.Fatal(err)
	}
	expectReject(t, g.verifier, again, ErrReplay)
}

func TestReplayReorderBeyondWindow(t *testing.T) {
	f := newFixture(t, EdDSA)
	w, err := NewMemoryReplayWindow(MemoryReplayConfig{Window: 64})
	if err != nil {
		t.Fatal(err)
	}
	f.verifier, _ = NewVerifier(VerifierConfig{Keys: f.resolver, Replay: w, Now: func() time.Time { return testNow }})
	var envs []*Envelope
	for i := 0; i < 200; i++ {
		envs = append(envs, f.sign(t, testBP(testNow)))
	}
	ctx := context.Background()
	// Deliver seq 151..200 first, then stragglers.
	for _, e := range envs[150:] {
		if _, err := f.verifier.Verify(ctx, e.Compact); err != nil {
			t.Fatal(err)
		}
	}
	// seq 140 (index 139) is within 64 of 200: accepted once, out of order.
	if _, err := f.verifier.Verify(ctx, envs[139].Compact); err != nil {
		t.Fatalf("in-window straggler: %v", err)
	}
	expectReject(t, f.verifier, envs[139].Compact, ErrReplay)
	// seq 136 (index 135) is 64 behind 200: outside the window.
	expectReject(t, f.verifier, envs[135].Compact, ErrSeqTooOld)
	expectReject(t, f.verifier, envs[0].Compact, ErrSeqTooOld)
	expectReject(t, f.verifier, envs[160].Compact, ErrReplay)
}

func TestImpersonationViaKid(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			mallory := testKey(t, alg, "mallory device")
			if err := f.resolver.Add(testDev2, mallory.Public()); err != nil {
				t.Fatal(err)
			}
			// Mallory signs a reading for the victim device with her own
			// (registered) key and her own kid.
			hdr := strings.Replace(hdrFor(alg), testDev.String(), testDev2.String(), 1)
			expectReject(t, f.verifier, signRaw(t, mallory, alg, []byte(hdr), []byte(payloadWith(goodData, ""))), ErrKidMismatch)
			// Or names the victim in kid: the victim's key does not verify.
			expectReject(t, f.verifier, signRaw(t, mallory, alg, []byte(hdrFor(alg)), []byte(payloadWith(goodData, ""))), ErrBadSignature)
		})
	}
}

func TestAlgorithmConfusion(t *testing.T) {
	ed := newFixture(t, EdDSA)
	ecKey := testKey(t, ES256, "confusion")
	// An ES256 envelope presented for a device registered with Ed25519.
	expectReject(t, ed.verifier, signRaw(t, ecKey, ES256, []byte(hdrES256), []byte(payloadWith(goodData, ""))), ErrAlgorithm)
	ec := newFixture(t, ES256)
	edKey := testKey(t, EdDSA, "confusion")
	expectReject(t, ec.verifier, signRaw(t, edKey, EdDSA, []byte(hdrEdDSA), []byte(payloadWith(goodData, ""))), ErrAlgorithm)

	// HMAC keyed with the device's public key bytes, the classic confusion.
	pubJWK, _ := MarshalPublicJWK(ed.key.Public(), testDev)
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		hdr := `{"alg":"` + alg + `","kid":"` + testDev.String() + `","typ":"iomt-telemetry+jws"}`
		input := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(payloadWith(goodData, "")))
		m := hmac.New(sha256.New, pubJWK)
		m.Write([]byte(input))
		expectReject(t, ed.verifier, []byte(input+"."+b64.EncodeToString(m.Sum(nil))), ErrAlgorithm)
	}
	// Other asymmetric algorithms, lowercase spellings, and RFC 9864's Ed25519.
	for _, alg := range []string{"RS256", "PS256", "ES384", "ES512", "ES256K", "es256", "eddsa", "Ed25519", "EdDSA ", ""} {
		hdr := `{"alg":"` + alg + `","kid":"` + testDev.String() + `","typ":"iomt-telemetry+jws"}`
		compact := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(payloadWith(goodData, ""))) + "." + b64.EncodeToString(make([]byte, 64))
		expectReject(t, ed.verifier, []byte(compact), ErrAlgorithm)
	}
}

func TestAlgNone(t *testing.T) {
	f := newFixture(t, EdDSA)
	for _, hdr := range []string{
		`{"alg":"none"}`,
		`{"alg":"none","kid":"` + testDev.String() + `","typ":"iomt-telemetry+jws"}`,
		`{"alg":"None","kid":"` + testDev.String() + `","typ":"iomt-telemetry+jws"}`,
		`{"kid":"` + testDev.String() + `","typ":"iomt-telemetry+jws"}`,
	} {
		base := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(payloadWith(goodData, "")))
		expectReject(t, f.verifier, []byte(base+"."), ErrAlgorithm)
		expectReject(t, f.verifier, []byte(base+"."+b64.EncodeToString(make([]byte, 64))), ErrAlgorithm)
	}
	// A correctly signed envelope with its signature stripped.
	env := f.sign(t, testBP(testNow))
	stripped := env.Compact[:strings.LastIndexByte(string(env.Compact), '.')+1]
	expectReject(t, f.verifier, stripped, ErrAlgorithm)
}

func TestOversizeEnvelope(t *testing.T) {
	f := newFixture(t, EdDSA)
	big := make([]byte, DefaultMaxEnvelopeSize+1)
	for i := range big {
		big[i] = 'A'
	}
	expectReject(t, f.verifier, big, ErrOversize)
	// A signed envelope padded with a huge protected header.
	hdr := `{"alg":"EdDSA","kid":"` + testDev.String() + `","typ":"iomt-telemetry+jws","x":"` + strings.Repeat("x", 600) + `"}`
	expectReject(t, f.verifier, signRaw(t, f.key, EdDSA, []byte(hdr), []byte(payloadWith(goodData, ""))), ErrOversize)
	// Too many members in data.
	many := `{"sys":120` + strings.Repeat(`,"dia":80`, 20) + `}`
	expectReject(t, f.verifier, signRaw(t, f.key, EdDSA, []byte(hdrEdDSA), []byte(payloadWith(many, ""))), ErrOversize)
}

func TestTruncatedEnvelope(t *testing.T) {
	for _, alg := range testAlgos {
		f := newFixture(t, alg)
		env := f.sign(t, testBP(testNow))
		for n := 0; n < len(env.Compact); n++ {
			_, err := f.verifier.Verify(context.Background(), env.Compact[:n])
			if err == nil {
				t.Fatalf("%s: truncation to %d bytes accepted", alg, n)
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("%s: truncation to %d: untyped error %v", alg, n, err)
			}
		}
		// Truncated JSON inside a validly signed envelope.
		expectReject(t, f.verifier, signRaw(t, f.key, alg, []byte(hdrFor(alg)), []byte(payloadWith(goodData, "")[:60])), ErrMalformed)
		expectReject(t, f.verifier, signRaw(t, f.key, alg, []byte(hdrFor(alg)[:30]), []byte(payloadWith(goodData, ""))), ErrMalformed)
	}
}

func TestUnknownFieldSmuggling(t *testing.T) {
	f := newFixture(t, EdDSA)
	sign := func(hdr, payload string) []byte { return signRaw(t, f.key, EdDSA, []byte(hdr), []byte(payload)) }
	// Extra payload members, at the top and inside data.
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(goodData, `,"admin":true`)), ErrUnknownField, "admin")
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(`{"sys":120,"dia":80,"weight":90}`, "")), ErrUnknownField, "weight")
	// Case folding: encoding/json would map "SEQ" onto "seq".
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(goodData, `,"SEQ":99`)), ErrUnknownField)
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(`{"SYS":120,"dia":80}`, "")), ErrUnknownField)
	// Duplicate members, plain and spelled with escapes, to split parsers.
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(goodData, `,"seq":99`)), ErrMalformed)
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(goodData, `,"\u0073eq":99`)), ErrMalformed)
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(`{"sys":120,"sys":200,"dia":80}`, "")), ErrMalformed)
	// Nested structures and nulls in data.
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(`{"sys":120,"dia":80,"unit":{"x":1}}`, "")), ErrMalformed)
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(`{"sys":[120],"dia":80}`, "")), ErrMalformed)
	expectReject(t, f.verifier, sign(hdrEdDSA, payloadWith(`{"sys":null,"dia":80}`, "")), ErrMalformed)
	// Header parameters that change how a JOSE library verifies.
	for _, extra := range []string{
		`,"jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}`,
		`,"jku":"https://attacker.example/jwks"`,
		`,"x5u":"https://attacker.example/cert"`,
		`,"crit":["b64"],"b64":false`,
		`,"cty":"JWT"`,
	} {
		hdr := strings.TrimSuffix(hdrEdDSA, "}") + extra + "}"
		expectReject(t, f.verifier, sign(hdr, payloadWith(goodData, "")), ErrUnknownField, "attacker")
	}
	expectReject(t, f.verifier, sign(strings.TrimSuffix(hdrEdDSA, "}")+`,"kid":"`+testDev.String()+`"}`, payloadWith(goodData, "")), ErrMalformed)
	// A different typ: a token from another protocol signed by the device key.
	expectReject(t, f.verifier, sign(strings.Replace(hdrEdDSA, MediaType, "JWT", 1), payloadWith(goodData, "")), ErrMalformed)
	// Version 2 payload.
	expectReject(t, f.verifier, sign(hdrEdDSA, strings.Replace(payloadWith(goodData, ""), `"v":1`, `"v":2`, 1)), ErrUnsupportedVersion)
}

func TestPHISmugglingInData(t *testing.T) {
	f := newFixture(t, EdDSA)
	sign := func(payload string) []byte { return signRaw(t, f.key, EdDSA, []byte(hdrEdDSA), []byte(payload)) }
	for _, data := range []string{
		`{"sys":120,"dia":80,"note":"John Smith"}`,
		`{"sys":120,"dia":80,"unit":"jane.doe@example.com"}`,
		`{"sys":"078-05-1120","dia":80}`,
		`{"sys":120,"dia":80,"john.smith@example.com":1}`,
		`{"sys":120,"dia":"\u004aohn Smith"}`,
	} {
		expectReject(t, f.verifier, sign(payloadWith(data, "")), ErrPHI, "John", "jane", "078-05", "john", "Smith")
	}
	// Free text outside data, in unknown members or in place of a UUID.
	for _, p := range []string{
		payloadWith(goodData, `,"patient_name":"Jane Q. Public"`),
		payloadWith(goodData, `,"+1 (555) 010-4477":1`),
		strings.Replace(payloadWith(goodData, ""), testPat.String(), "jane.doe@example.com", 1),
		strings.Replace(payloadWith(goodData, ""), `"blood_pressure"`, `"Jane Public"`, 1),
		strings.Replace(payloadWith(goodData, ""), `"seq":5`, `"seq":"555-010-4477"`, 1),
	} {
		expectReject(t, f.verifier, sign(p), ErrPHI, "Jane", "jane", "555", "Public")
	}
}

func TestImpersonationUnknownAndRevokedDevice(t *testing.T) {
	f := newFixture(t, EdDSA)
	stranger := testKey(t, EdDSA, "stranger")
	hdr := strings.Replace(hdrEdDSA, testDev.String(), testDev2.String(), 1)
	payload := strings.Replace(payloadWith(goodData, ""), testDev.String(), testDev2.String(), 1)
	expectReject(t, f.verifier, signRaw(t, stranger, EdDSA, []byte(hdr), []byte(payload)), ErrUnknownDevice)
	env := f.sign(t, testBP(testNow))
	f.resolver.Revoke(testDev)
	expectReject(t, f.verifier, env.Compact, ErrRevokedDevice)
	// A resolver reporting an unset status fails closed too.
	f.resolver.Set(testDev, DeviceKey{Key: f.key.Public()})
	expectReject(t, f.verifier, env.Compact, ErrRevokedDevice)
}

type failingResolver struct{ err error }

func (r failingResolver) ResolveDeviceKey(context.Context, iomt.DeviceID) (DeviceKey, error) {
	return DeviceKey{}, r.err
}

func TestKeyResolutionFailureIsNotAVerdict(t *testing.T) {
	f := newFixture(t, EdDSA)
	env := f.sign(t, testBP(testNow))
	outage := errors.New("registry: connection refused")
	v, _ := NewVerifier(VerifierConfig{Keys: failingResolver{outage}, Now: func() time.Time { return testNow }})
	_, err := v.Verify(context.Background(), env.Compact)
	if !errors.Is(err, ErrKeyResolution) || !errors.Is(err, outage) || errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("got %v", err)
	}
	v, _ = NewVerifier(VerifierConfig{Keys: failingResolver{ErrRevokedDevice}, Now: func() time.Time { return testNow }})
	if _, err := v.Verify(context.Background(), env.Compact); !errors.Is(err, ErrRevokedDevice) {
		t.Fatalf("got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.verifier.Verify(ctx, env.Compact); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestReplayWithShiftedTime(t *testing.T) {
	f := newFixture(t, ES256)
	env := f.sign(t, testBP(testNow.Add(10*time.Minute)))
	expectReject(t, f.verifier, env.Compact, ErrTimeSkew)
	env = f.sign(t, testBP(testNow.Add(-31*24*time.Hour)))
	expectReject(t, f.verifier, env.Compact, ErrTimeSkew)
	// Within the skew bound is fine.
	env = f.sign(t, testBP(testNow.Add(4*time.Minute)))
	if _, err := f.verifier.Verify(context.Background(), env.Compact); err != nil {
		t.Fatal(err)
	}
}

func TestTopicSpoofing(t *testing.T) {
	f := newFixture(t, EdDSA)
	env := f.sign(t, testBP(testNow))
	ctx := context.Background()
	for _, topic := range []string{
		Topic(testDev2, iomt.KindBloodPressure),
		Topic(testDev, iomt.KindGlucose),
		"iomt/v1/" + testDev.String() + "/telemetry/blood_pressure/x",
		"iomt/v1/+/telemetry/+",
		"",
	} {
		_, err := f.verifier.VerifyTopic(ctx, topic, env.Compact)
		if !errors.Is(err, ErrTopicMismatch) {
			t.Fatalf("topic %q: %v", topic, err)
		}
	}
	if _, err := f.verifier.VerifyTopic(ctx, env.Topic(), env.Compact); err != nil {
		t.Fatal(err)
	}
}

func TestTamperReadingOutOfRange(t *testing.T) {
	f := newFixture(t, EdDSA)
	compact := signRaw(t, f.key, EdDSA, []byte(hdrEdDSA), []byte(payloadWith(`{"sys":500,"dia":80}`, "")))
	expectReject(t, f.verifier, compact, ErrInvalidReading)
	var ve *iomt.ValidationError
	_, err := f.verifier.Verify(context.Background(), compact)
	if !errors.As(err, &ve) || ve.Field != "sys" {
		t.Fatalf("got %v", err)
	}
}

func TestTamperBase64Encoding(t *testing.T) {
	f := newFixture(t, EdDSA)
	env := f.sign(t, testBP(testNow))
	s := string(env.Compact)
	parts := strings.Split(s, ".")
	std := strings.NewReplacer("-", "+", "_", "/")
	for name, c := range map[string]string{
		"padding":            parts[0] + "==." + parts[1] + "." + parts[2],
		"line break":         parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2],
		"std alphabet":       std.Replace(s),
		"whitespace":         " " + s,
		"four segments":      s + ".AAAA",
		"JSON serialization": `{"payload":"` + parts[1] + `"}`,
		"noncanonical sig":   parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + nextB64(parts[2][len(parts[2])-1]),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "std alphabet" && std.Replace(s) == s {
				t.Skip("no - or _ in this envelope")
			}
			expectReject(t, f.verifier, []byte(c), ErrMalformed)
		})
	}
}

// nextB64 returns the base64url character after c, which changes only the
// unused low bits of a final 64-byte signature group (86 chars: 2 spare bits).
func nextB64(c byte) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alpha[(strings.IndexByte(alpha, c)+1)%64])
}

func TestCheckThenCommit(t *testing.T) {
	f := newFixture(t, EdDSA)
	env := f.sign(t, testBP(testNow))
	ctx := context.Background()
	// Check twice: nothing recorded, so a redelivery after a failed store passes.
	for i := 0; i < 2; i++ {
		if _, err := f.verifier.Check(ctx, env.Topic(), env.Compact); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := f.verifier.Check(ctx, "", env.Compact)
	if err := f.verifier.Commit(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := f.verifier.Commit(ctx, p); !errors.Is(err, ErrReplay) {
		t.Fatalf("second commit: %v", err)
	}
	if _, err := f.verifier.Check(ctx, env.Topic(), env.Compact); !errors.Is(err, ErrReplay) {
		t.Fatalf("check after commit: %v", err)
	}
}

func TestImpersonationOfAnotherPatient(t *testing.T) {
	f := newFixture(t, EdDSA)
	// The registry pairs the device with testPat.
	if err := f.resolver.Set(testDev, DeviceKey{Key: f.key.Public(), Status: KeyActive, Patient: testPat}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(context.Background(), f.sign(t, testBP(testNow)).Compact); err != nil {
		t.Fatal(err)
	}
	other := "b3e1f2d4-5b6c-4d7e-8f90-1a2b3c4d5e6f"
	p := strings.Replace(payloadWith(goodData, ""), testPat.String(), other, 1)
	expectReject(t, f.verifier, signRaw(t, f.key, EdDSA, []byte(hdrEdDSA), []byte(p)), ErrPatientMismatch, other)
}

func TestPHISmugglingInHeader(t *testing.T) {
	f := newFixture(t, EdDSA)
	for _, hdr := range []string{
		`{"alg":"EdDSA","kid":"jane.doe@example.com","typ":"iomt-telemetry+jws"}`,
		`{"alg":"EdDSA","kid":"` + testDev.String() + `","typ":"Jane Doe"}`,
	} {
		expectReject(t, f.verifier, signRaw(t, f.key, EdDSA, []byte(hdr), []byte(payloadWith(goodData, ""))), ErrPHI, "jane", "Jane")
	}
}

type countingResolver struct {
	KeyResolver
	calls int
}

func (c *countingResolver) ResolveDeviceKey(ctx context.Context, dev iomt.DeviceID) (DeviceKey, error) {
	c.calls++
	return c.KeyResolver.ResolveDeviceKey(ctx, dev)
}

// TestTopicSpoofingIsCheap: an envelope for one device published on
// another device's topic is rejected before any key lookup or signature
// check, so flooding a topic costs the verifier next to nothing.
func TestTopicSpoofingIsCheap(t *testing.T) {
	f := newFixture(t, ES256)
	env := f.sign(t, testBP(testNow))
	cr := &countingResolver{KeyResolver: f.resolver}
	v, _ := NewVerifier(VerifierConfig{Keys: cr, Now: func() time.Time { return testNow }})
	for _, topic := range []string{Topic(testDev2, iomt.KindBloodPressure), "iomt/v1/x", ""} {
		if _, err := v.VerifyTopic(context.Background(), topic, env.Compact); !errors.Is(err, ErrTopicMismatch) {
			t.Fatalf("%q: %v", topic, err)
		}
	}
	if cr.calls != 0 {
		t.Fatalf("resolver called %d times for mismatched topics", cr.calls)
	}
}

// badKeyResolver hands out broken keys, as a buggy registry might.
type badKeyResolver struct{ key crypto.PublicKey }

func (r badKeyResolver) ResolveDeviceKey(context.Context, iomt.DeviceID) (DeviceKey, error) {
	return DeviceKey{Key: r.key, Status: KeyActive}, nil
}

func TestImpersonationWithBrokenRegistryKeysDoesNotPanic(t *testing.T) {
	for _, alg := range testAlgos {
		f := newFixture(t, alg)
		env := f.sign(t, testBP(testNow))
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		for name, k := range map[string]crypto.PublicKey{
			"nil":             nil,
			"nil ecdsa":       (*ecdsa.PublicKey)(nil),
			"empty ecdsa":     &ecdsa.PublicKey{Curve: elliptic.P256()},
			"P-384":           &p384.PublicKey,
			"short ed25519":   ed25519.PublicKey(make([]byte, 5)),
			"nil ed25519":     ed25519.PublicKey(nil),
			"HMAC secret":     []byte("secret"),
			"ed25519 private": ed25519.NewKeyFromSeed(make([]byte, 32)),
		} {
			v, _ := NewVerifier(VerifierConfig{Keys: badKeyResolver{k}, Now: func() time.Time { return testNow }})
			if _, err := v.Verify(context.Background(), env.Compact); !errors.Is(err, ErrAlgorithm) {
				t.Errorf("%s/%s: %v", alg, name, err)
			}
		}
	}
}
