package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range testAlgos {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			ctx := context.Background()
			readings := []iomt.Reading{
				testBP(testNow.Add(-time.Minute)),
				iomt.HeartRate{BPM: 72, MeasuredAt: testNow},
				&iomt.Glucose{Concentration: 5.4, Unit: iomt.MmolPerL, Meal: iomt.MealFasting, MeasuredAt: testNow},
			}
			for i, r := range readings {
				env := f.sign(t, r)
				if env.Payload.Seq != uint64(i+1) {
					t.Fatalf("seq %d, want %d", env.Payload.Seq, i+1)
				}
				p, err := f.verifier.VerifyTopic(ctx, env.Topic(), env.Compact)
				if err != nil {
					t.Fatalf("verify %s: %v", r.Kind(), err)
				}
				if p.Device != testDev || p.Patient != testPat || p.Seq != env.Payload.Seq || p.Kind != r.Kind() || !p.Time.Equal(r.Time()) {
					t.Fatalf("payload %+v does not match", p)
				}
				if p.Reading != withTime(r, r.Time().UTC()) {
					t.Fatalf("reading %+v, want %+v", p.Reading, r)
				}
			}
		})
	}
}

func TestVerifyErrorsAreTyped(t *testing.T) {
	f := newFixture(t, EdDSA)
	_, err := f.verifier.Verify(context.Background(), []byte("not a jws"))
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, ErrMalformed) || Rule(err) != "malformed" {
		t.Fatalf("got %v", err)
	}
}

// TestLogValuesRedact checks that logging envelopes, payloads and signers
// records identifiers only: no measured values, no full patient UUID, no
// key material.
func TestLogValuesRedact(t *testing.T) {
	f := newFixture(t, ES256)
	env := f.sign(t, iomt.BloodPressure{Systolic: 187, Diastolic: 123, MeasuredAt: testNow})
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("sent", "env", env, "payload", &env.Payload, "signer", f.signer, "keys", f.resolver)
	out := buf.String()
	for _, leak := range []string{"187", "123", testPat.String(), string(env.Compact[:20])} {
		if strings.Contains(out, leak) {
			t.Fatalf("log %s contains %q", out, leak)
		}
	}
	if !strings.Contains(out, testDev.String()) || !strings.Contains(out, `"seq":1`) {
		t.Fatalf("log %s lacks the identifiers", out)
	}
}

// TestHeaderVariantsFromOtherProducers: any member order, JSON whitespace
// and escapes in the protected header are fine; the set of members is not.
func TestHeaderVariantsFromOtherProducers(t *testing.T) {
	f := newFixture(t, EdDSA)
	for i, hdr := range []string{
		`{"typ":"iomt-telemetry+jws","kid":"` + testDev.String() + `","alg":"EdDSA"}`,
		"{ \"alg\" : \"EdDSA\" ,\n \"kid\":\"" + testDev.String() + "\", \"typ\":\"iomt-telemetry\\u002bjws\" }",
		`{"\u0061lg":"EdDSA","kid":"` + testDev.String() + `","typ":"iomt-telemetry+jws"}`,
	} {
		payload := strings.Replace(payloadWith(goodData, ""), `"seq":5`, `"seq":`+string(rune('5'+i)), 1)
		if _, err := f.verifier.Verify(context.Background(), signRaw(t, f.key, EdDSA, []byte(hdr), []byte(payload))); err != nil {
			t.Errorf("header %s: %v", hdr, err)
		}
	}
}
