package telemetry

import (
	"context"
	"errors"
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
