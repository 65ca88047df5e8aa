package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/openiomt/sdk/iomt"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// fuzzWorld is a fleet of two devices (EdDSA and ES256) and the envelopes
// they genuinely signed.
type fuzzWorld struct {
	resolver *MemoryResolver
	genuine  map[string]bool // signing inputs (header.payload) the devices signed
	seeds    [][]byte
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	w := &fuzzWorld{resolver: &MemoryResolver{}, genuine: map[string]bool{}}
	for i, d := range []struct {
		alg Algorithm
		dev iomt.DeviceID
	}{{EdDSA, testDev}, {ES256, testDev2}} {
		key := testKey(t, d.alg, "fuzz")
		if err := w.resolver.Add(d.dev, key.Public()); err != nil {
			t.Fatal(err)
		}
		s, err := NewSigner(SignerConfig{Key: key, Device: d.dev, Patient: testPat, Sequence: NewMemorySequence(uint64(100 * i))})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []iomt.Reading{
			testBP(testNow.Add(-time.Minute)),
			iomt.HeartRate{BPM: 61.5, MeasuredAt: testNow},
			iomt.Glucose{Concentration: 99, Meal: iomt.MealFasting, MeasuredAt: testNow.Add(-time.Hour)},
		} {
			env, err := s.Sign(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			w.genuine[string(env.Compact[:bytes.LastIndexByte(env.Compact, '.')])] = true
			w.seeds = append(w.seeds, env.Compact)
		}
	}
	return w
}

// FuzzVerify feeds arbitrary bytes to a Verifier. It must never panic,
// must answer every rejection with a typed error naming a rule, and must
// accept only content the devices really signed.
func FuzzVerify(f *testing.F) {
	w := newFuzzWorld(f)
	for _, s := range w.seeds {
		f.Add(s)
		// Hostile variants of each: signature stripped, header swapped.
		f.Add(s[:bytes.LastIndexByte(s, '.')+1])
		f.Add(append(append([]byte(nil), s...), ".x"...))
	}
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := NewVerifier(VerifierConfig{Keys: w.resolver, Now: func() time.Time { return testNow }})
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), data)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) || Rule(err) == "" {
				t.Fatalf("untyped rejection %v", err)
			}
			return
		}
		dot := bytes.LastIndexByte(data, '.')
		if dot < 0 || !w.genuine[string(data[:dot])] {
			t.Fatalf("accepted content the device never signed: %q", data)
		}
		if p.Device.IsZero() || p.Reading == nil {
			t.Fatalf("accepted payload incomplete: %+v", p)
		}
		// Differential: what this verifier accepts, go-jose accepts too.
		k, _ := w.resolver.ResolveDeviceKey(context.Background(), p.Device)
		alg, _ := AlgorithmOf(k.Key)
		obj, err := jose.ParseSigned(string(data), []jose.SignatureAlgorithm{joseAlg(alg)})
		if err != nil {
			t.Fatalf("go-jose cannot parse accepted envelope: %v", err)
		}
		if _, err := obj.Verify(k.Key); err != nil {
			t.Fatalf("go-jose rejects accepted envelope: %v", err)
		}
	})
}

// FuzzParsePayload checks the strict payload parser: no panics; whatever
// it accepts is valid JSON, decodes identically with encoding/json, and
// survives a MarshalJSON round trip.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(payloadWith(goodData, "")))
	f.Add([]byte(payloadWith(`{"sys":1.5e2,"dia":8E1,"map":100,"pulse":60,"unit":1,"status":5}`, "")))
	f.Add([]byte(`{"v":1,"dev":"` + testDev.String() + `","pat":"` + testPat.String() + `","seq":18446744073709551615,"ts":"2026-01-02T03:04:05.123456789+01:00","kind":"glucose","data":{"conc":5.5,"unit":1,"meal":3}}`))
	f.Add([]byte(`{"kind":"heart_rate","data":{"bpm":70},"v":1,"dev":"` + testDev.String() + `","pat":"` + testPat.String() + `","seq":1,"ts":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(payloadWith(`{"sys":120,"dia":80,"note":"John Smith"}`, "")))
	f.Add([]byte(payloadWith(goodData, `,"\u0073eq":1`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePayload(data)
		if err != nil {
			if Rule(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		// Differential: encoding/json must read the same reading.
		var doc struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		ref, _ := iomt.NewReading(p.Kind)
		if err := json.Unmarshal(doc.Data, ref); err != nil {
			t.Fatalf("encoding/json rejects data %s that ParsePayload accepted: %v", doc.Data, err)
		}
		if withTime(ref, p.Time) != p.Reading {
			t.Fatalf("readings differ: %+v vs %+v", withTime(ref, p.Time), p.Reading)
		}
		out, err := p.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of accepted payload: %v", err)
		}
		q, err := ParsePayload(out)
		if err != nil || q.Seq != p.Seq || q.Reading != p.Reading || !q.Time.Equal(p.Time) || q.Device != p.Device || q.Patient != p.Patient {
			t.Fatalf("round trip: %+v %v", q, err)
		}
	})
}

// FuzzParseTopic checks that accepted topics are exactly the canonical ones.
func FuzzParseTopic(f *testing.F) {
	f.Add(Topic(testDev, iomt.KindBloodPressure))
	f.Add("iomt/v1/+/telemetry/+")
	f.Add(OTAStatusTopic(testDev))
	f.Fuzz(func(t *testing.T, topic string) {
		if dev, kind, err := ParseTopic(topic); err == nil && Topic(dev, kind) != topic {
			t.Fatalf("ParseTopic accepted non-canonical %q", topic)
		}
		if dev, err := ParseOTAStatusTopic(topic); err == nil && OTAStatusTopic(dev) != topic {
			t.Fatalf("ParseOTAStatusTopic accepted non-canonical %q", topic)
		}
	})
}

// FuzzCheckData runs the data guard and the PHI detector on arbitrary
// input: no panics, and accepted data is valid JSON without strings.
func FuzzCheckData(f *testing.F) {
	f.Add(goodData, "Jane Doe")
	f.Add(`{"bpm":72}`, "+1 555 010 4477")
	f.Add(`{"sys":"x"}`, "a@b.c")
	f.Fuzz(func(t *testing.T, data, s string) {
		DetectPHI(s)
		for _, k := range iomt.Kinds() {
			if CheckData(k, []byte(data)) == nil {
				if !json.Valid([]byte(data)) || strings.Contains(data, `":"`) {
					t.Fatalf("accepted %q for %s", data, k)
				}
			}
		}
	})
}

// FuzzParsePublicJWK parses arbitrary bytes as a public JWK: no panics,
// and accepted keys re-marshal to an equal key.
func FuzzParsePublicJWK(f *testing.F) {
	for _, alg := range testAlgos {
		b, _ := MarshalPublicJWK(testKey(f, alg, "jwk").Public(), testDev)
		f.Add(b)
		p, _ := MarshalPrivateJWK(testKey(f, alg, "jwk"), testDev)
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, dev, err := ParsePublicJWK(data)
		if err != nil {
			return
		}
		b, err := MarshalPublicJWK(pub, dev)
		if err != nil {
			t.Fatalf("cannot re-marshal accepted key: %v", err)
		}
		pub2, dev2, err := ParsePublicJWK(b)
		if err != nil || dev2 != dev || !equalPub(pub, pub2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzSequenceFile checks the sequence file decoder: only the exact
// encoding of a reservation is accepted.
func FuzzSequenceFile(f *testing.F) {
	f.Add(encodeSeqFile(1))
	f.Add(encodeSeqFile(1 << 63))
	f.Add([]byte("iomt-seq v1 5 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		limit, err := decodeSeqFile(data)
		if err != nil {
			if !errors.Is(err, ErrSequenceCorrupt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(encodeSeqFile(limit), data) {
			t.Fatalf("accepted non-canonical %q", data)
		}
	})
}

// TestWriteFuzzCorpus rewrites testdata/fuzz with -write-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to rewrite testdata/fuzz")
	}
	w := newFuzzWorld(t)
	write := func(name string, args ...any) {
		dir := filepath.Join("testdata", "fuzz", name)
		os.MkdirAll(dir, 0o755)
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
			case string:
				fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
			}
		}
		sum := fmt.Sprintf("%x", len(b.String()))
		path := filepath.Join(dir, fmt.Sprintf("seed-%02d-%s", len(mustDir(dir)), sum))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"FuzzVerify", "FuzzParsePayload", "FuzzParseTopic", "FuzzCheckData", "FuzzParsePublicJWK", "FuzzSequenceFile"} {
		os.RemoveAll(filepath.Join("testdata", "fuzz", name))
	}
	for _, s := range w.seeds {
		write("FuzzVerify", s)
		parts := bytes.Split(s, []byte("."))
		p, _ := b64.DecodeString(string(parts[1]))
		write("FuzzParsePayload", p)
		// Tampered: payload swapped between devices, signature kept.
		write("FuzzVerify", append(append(append([]byte(nil), parts[0]...), '.'), b64.EncodeToString([]byte(strings.Replace(string(p), `"seq":`, `"seq":1`, 1)))+"."+string(parts[2])...))
	}
	write("FuzzVerify", []byte(b64.EncodeToString([]byte(`{"alg":"HS256","kid":"`+testDev.String()+`","typ":"iomt-telemetry+jws"}`))+"."+b64.EncodeToString([]byte(payloadWith(goodData, "")))+"."+b64.EncodeToString(make([]byte, 32))))
	write("FuzzParsePayload", []byte(payloadWith(`{"sys":120,"dia":80,"note":"John Smith"}`, "")))
	write("FuzzParsePayload", []byte(payloadWith(goodData, `,"SEQ":1`)))
	write("FuzzParseTopic", Topic(testDev, iomt.KindGlucose))
	write("FuzzParseTopic", "iomt/v1/"+strings.ToUpper(testDev.String())+"/telemetry/glucose")
	write("FuzzCheckData", `{"sys":120,"dia":80,"unit":0,"status":0}`, "John Smith")
	write("FuzzCheckData", `{"sys":120,"dia":80,"x":{"y":1}}`, "078-05-1120")
	for _, alg := range testAlgos {
		b, _ := MarshalPublicJWK(testKey(t, alg, "jwk").Public(), testDev)
		write("FuzzParsePublicJWK", b)
	}
	write("FuzzParsePublicJWK", []byte(`{"kty":"oct","k":"c2VjcmV0","kid":"`+testDev.String()+`"}`))
	write("FuzzSequenceFile", encodeSeqFile(1024))
	write("FuzzSequenceFile", []byte("iomt-seq v1 1024 0\n"))
}

func mustDir(dir string) []os.DirEntry {
	e, _ := os.ReadDir(dir)
	return e
}
