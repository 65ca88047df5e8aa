package telemetry

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Benchmarks compare the envelope against the raw signature primitive over
// the same signing input, in the same run. Target: envelope ≤ 1.3× raw.
//
//	go test ./telemetry -run '^$' -bench 'Sign|Verify' -benchmem -count 6

const benchPool = 1024

// benchEnvelopes signs benchPool envelopes with distinct sequence numbers.
func benchEnvelopes(b *testing.B, f *fixture) [][]byte {
	b.Helper()
	out := make([][]byte, benchPool)
	for i := range out {
		out[i] = f.sign(b, testBP(testNow)).Compact
	}
	return out
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			envs := benchEnvelopes(b, f)
			ctx := context.Background()
			now := func() time.Time { return testNow }
			var v *Verifier
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%benchPool == 0 {
					// A fresh replay window per pass over the pool, so every
					// envelope is new to it; not timed.
					b.StopTimer()
					v, _ = NewVerifier(VerifierConfig{Keys: f.resolver, Now: now})
					b.StartTimer()
				}
				if _, err := v.Verify(ctx, envs[i%benchPool]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBaselineVerify(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			env := f.sign(b, testBP(testNow)).Compact
			dot := strings.LastIndexByte(string(env), '.')
			input := env[:dot]
			sig, _ := b64.DecodeString(string(env[dot+1:]))
			b.ReportAllocs()
			b.ResetTimer()
			switch alg {
			case ES256:
				pub := f.key.Public().(*ecdsa.PublicKey)
				der := rawToDER(nil, sig)
				for i := 0; i < b.N; i++ {
					d := sha256.Sum256(input)
					if !ecdsa.VerifyASN1(pub, d[:], der) {
						b.Fatal("verify")
					}
				}
			case EdDSA:
				pub := f.key.Public().(ed25519.PublicKey)
				for i := 0; i < b.N; i++ {
					if !ed25519.Verify(pub, input, sig) {
						b.Fatal("verify")
					}
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			r := testBP(testNow)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.signer.Sign(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignFileSequence is Sign with the crash-safe file store (one
// fsync+rename per DefaultSequenceBlock envelopes).
func BenchmarkSignFileSequence(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			seq, err := OpenFileSequence(FileSequenceConfig{Path: filepath.Join(b.TempDir(), "seq")})
			if err != nil {
				b.Fatal(err)
			}
			defer seq.Close()
			s, _ := NewSigner(SignerConfig{Key: f.key, Device: testDev, Patient: testPat, Sequence: seq})
			r := testBP(testNow)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Sign(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBaselineSign(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			env := f.sign(b, testBP(testNow)).Compact
			input := env[:strings.LastIndexByte(string(env), '.')]
			b.ReportAllocs()
			b.ResetTimer()
			switch alg {
			case ES256:
				key := f.key.(*ecdsa.PrivateKey)
				for i := 0; i < b.N; i++ {
					d := sha256.Sum256(input)
					if _, err := ecdsa.SignASN1(rand.Reader, key, d[:]); err != nil {
						b.Fatal(err)
					}
				}
			case EdDSA:
				key := f.key.(ed25519.PrivateKey)
				for i := 0; i < b.N; i++ {
					ed25519.Sign(key, input)
				}
			}
		})
	}
}

// BenchmarkJWXVerify is jws.Verify from jwx/v3 on the same envelopes, for
// comparison only (signature check alone, no payload parsing or replay
// state).
func BenchmarkJWXVerify(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			env := f.sign(b, testBP(testNow)).Compact
			k, err := jwk.Import(f.key.Public())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := jws.Verify(env, jws.WithKey(jwxAlg(alg), k)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyPaired alternates one envelope Verify and one raw verify
// of the same signing input per iteration, timing each, and reports their
// ratio as "x-raw". Alternation makes the ratio robust to the load changes
// of a shared machine that skew separate benchmarks.
func BenchmarkVerifyPaired(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			envs := benchEnvelopes(b, f)
			ctx := context.Background()
			now := func() time.Time { return testNow }
			raw := rawVerifier(b, f, envs[0])
			var v *Verifier
			pt := newPairTimer(b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%benchPool == 0 {
					b.StopTimer()
					v, _ = NewVerifier(VerifierConfig{Keys: f.resolver, Now: now})
					b.StartTimer()
				}
				t0 := time.Now()
				if _, err := v.Verify(ctx, envs[i%benchPool]); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if !raw() {
					b.Fatal("raw verify")
				}
				pt.add(t0, t1, time.Now())
			}
			pt.report(b)
		})
	}
}

// rawVerifier returns the baseline: the bare primitive over env's signing
// input.
func rawVerifier(b *testing.B, f *fixture, env []byte) func() bool {
	dot := strings.LastIndexByte(string(env), '.')
	input := env[:dot]
	sig, _ := b64.DecodeString(string(env[dot+1:]))
	switch pub := f.key.Public().(type) {
	case *ecdsa.PublicKey:
		der := rawToDER(nil, sig)
		return func() bool {
			d := sha256.Sum256(input)
			return ecdsa.VerifyASN1(pub, d[:], der)
		}
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(pub, input, sig) }
	}
	b.Fatal("key type")
	return nil
}

// BenchmarkSignPaired alternates one Signer.Sign and one raw signature of
// the same signing input per iteration and reports the ratio as "x-raw".
func BenchmarkSignPaired(b *testing.B) {
	for _, alg := range testAlgos {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			env := f.sign(b, testBP(testNow)).Compact
			input := env[:strings.LastIndexByte(string(env), '.')]
			var raw func() error
			switch key := f.key.(type) {
			case *ecdsa.PrivateKey:
				raw = func() error {
					d := sha256.Sum256(input)
					_, err := ecdsa.SignASN1(rand.Reader, key, d[:])
					return err
				}
			case ed25519.PrivateKey:
				raw = func() error { ed25519.Sign(key, input); return nil }
			}
			r := testBP(testNow)
			ctx := context.Background()
			pt := newPairTimer(b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := f.signer.Sign(ctx, r); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := raw(); err != nil {
					b.Fatal(err)
				}
				pt.add(t0, t1, time.Now())
			}
			pt.report(b)
		})
	}
}

// pairTimer keeps per-iteration durations of the envelope operation and
// the raw primitive. It reports medians, which ignore the preemption
// spikes other processes on a shared machine cause, and their ratio.
type pairTimer struct{ env, raw []time.Duration }

func newPairTimer(n int) *pairTimer {
	return &pairTimer{env: make([]time.Duration, 0, n), raw: make([]time.Duration, 0, n)}
}

func (p *pairTimer) add(t0, t1, t2 time.Time) {
	p.env = append(p.env, t1.Sub(t0))
	p.raw = append(p.raw, t2.Sub(t1))
}

func (p *pairTimer) report(b *testing.B) {
	med := func(d []time.Duration) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[len(s)/2])
	}
	e, r := med(p.env), med(p.raw)
	b.ReportMetric(e, "env-median-ns")
	b.ReportMetric(r, "raw-median-ns")
	b.ReportMetric(e/r, "x-raw")
}
