package telemetry_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
)

// A device signs a blood-pressure reading; the cloud verifies it, and a
// second delivery of the same envelope is rejected as a replay.
func Example() {
	ctx := context.Background()
	dev := iomt.MustParseDeviceID("6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70")
	pat := iomt.MustParsePatientID("a3e1f2d4-5b6c-4d7e-8f90-1a2b3c4d5e6f")
	now := time.Date(2026, 11, 25, 8, 30, 0, 0, time.UTC)

	// Device side. Real devices keep the key in a secure element and use a
	// FileSequence so numbers survive reboots.
	key, err := telemetry.GenerateKey(telemetry.EdDSA, nil)
	if err != nil {
		panic(err)
	}
	signer, err := telemetry.NewSigner(telemetry.SignerConfig{
		Key: key, Device: dev, Patient: pat, Sequence: telemetry.NewMemorySequence(0),
	})
	if err != nil {
		panic(err)
	}
	env, err := signer.Sign(ctx, iomt.BloodPressure{Systolic: 128, Diastolic: 82, Pulse: 71, MeasuredAt: now})
	if err != nil {
		panic(err)
	}
	fmt.Println("publish on", env.Topic())

	// Cloud side: the registry knows the device's public key.
	keys := &telemetry.MemoryResolver{}
	if err := keys.Add(dev, key.Public()); err != nil {
		panic(err)
	}
	v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	p, err := v.VerifyTopic(ctx, env.Topic(), env.Compact)
	if err != nil {
		panic(err)
	}
	bp := p.Reading.(iomt.BloodPressure)
	fmt.Printf("seq %d: %v/%v mmHg, pulse %v\n", p.Seq, bp.Systolic, bp.Diastolic, bp.Pulse)

	_, err = v.VerifyTopic(ctx, env.Topic(), env.Compact)
	fmt.Println(telemetry.Rule(err), "-", err)
	// Output:
	// publish on iomt/v1/6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70/telemetry/blood_pressure
	// seq 1: 128/82 mmHg, pulse 71
	// replay - telemetry: replayed sequence number (seq)
}

// An ingest that acknowledges the broker only after its database commit
// checks first, stores, and commits the sequence number last, so a failed
// store does not turn the broker's redelivery into a "replay".
func ExampleVerifier_Check() {
	ctx := context.Background()
	dev := iomt.MustParseDeviceID("6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70")
	now := time.Date(2026, 11, 25, 8, 30, 0, 0, time.UTC)
	key, _ := telemetry.GenerateKey(telemetry.ES256, nil)
	signer, _ := telemetry.NewSigner(telemetry.SignerConfig{
		Key: key, Device: dev, Patient: iomt.MustParsePatientID("a3e1f2d4-5b6c-4d7e-8f90-1a2b3c4d5e6f"),
		Sequence: telemetry.NewMemorySequence(41),
	})
	env, _ := signer.Sign(ctx, iomt.HeartRate{BPM: 64, MeasuredAt: now})

	keys := &telemetry.MemoryResolver{}
	keys.Add(dev, key.Public())
	v, _ := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, Now: func() time.Time { return now }})

	store := func(*telemetry.Payload) error { return fmt.Errorf("database unavailable") }
	for attempt := 1; attempt <= 2; attempt++ {
		p, err := v.Check(ctx, env.Topic(), env.Compact)
		if err != nil {
			fmt.Println("reject:", err)
			return
		}
		if err := store(p); err != nil {
			fmt.Printf("attempt %d: seq %d not stored, not acknowledged\n", attempt, p.Seq)
			store = func(*telemetry.Payload) error { return nil }
			continue
		}
		if err := v.Commit(ctx, p); err != nil {
			fmt.Println("commit:", err)
		}
		fmt.Printf("attempt %d: seq %d stored and acknowledged\n", attempt, p.Seq)
	}
	// Output:
	// attempt 1: seq 42 not stored, not acknowledged
	// attempt 2: seq 42 stored and acknowledged
}

// A FileSequence never hands out a number twice, even across restarts.
func ExampleOpenFileSequence() {
	dir, _ := os.MkdirTemp("", "seq")
	defer os.RemoveAll(dir)
	cfg := telemetry.FileSequenceConfig{Path: filepath.Join(dir, "telemetry.seq")}
	ctx := context.Background()

	seq, err := telemetry.OpenFileSequence(cfg)
	if err != nil {
		panic(err)
	}
	a, _ := seq.Next(ctx)
	b, _ := seq.Next(ctx)
	seq.Close()

	seq, _ = telemetry.OpenFileSequence(cfg) // after a reboot
	c, _ := seq.Next(ctx)
	seq.Close()
	fmt.Println(a, b, c)
	// Output: 1 2 3
}

func ExampleTopic() {
	dev := iomt.MustParseDeviceID("6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70")
	fmt.Println(telemetry.Topic(dev, iomt.KindGlucose))
	fmt.Println(telemetry.OTAStatusTopic(dev))
	sub, _ := telemetry.SharedSubscription("ingest")
	fmt.Println(sub)
	d, k, err := telemetry.ParseTopic("iomt/v1/6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70/telemetry/heart_rate")
	fmt.Println(d, k, err)
	// Output:
	// iomt/v1/6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70/telemetry/glucose
	// iomt/v1/6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70/ota/status
	// $share/ingest/iomt/v1/+/telemetry/+
	// 6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70 heart_rate <nil>
}

func ExampleDetectPHI() {
	for _, s := range []string{"Jane Doe", "jane@example.com", "+1 555 010 4477", "1961-04-12", "blood_pressure"} {
		fmt.Printf("%q: %q\n", s, telemetry.DetectPHI(s))
	}
	// Output:
	// "Jane Doe": "name"
	// "jane@example.com": "email"
	// "+1 555 010 4477": "phone"
	// "1961-04-12": "date"
	// "blood_pressure": ""
}

// The PHI guard on a reading's JSON form: numbers only.
func ExampleCheckData() {
	fmt.Println(telemetry.CheckData(iomt.KindHeartRate, []byte(`{"bpm":72}`)))
	fmt.Println(telemetry.CheckData(iomt.KindHeartRate, []byte(`{"bpm":72,"note":"call Jane"}`)))
	// Output:
	// <nil>
	// telemetry: PHI-like data (data): string value
}

func ExampleMarshalPublicJWK() {
	seed := make([]byte, 32) // a fixed seed for a reproducible example
	key := ed25519.NewKeyFromSeed(seed)
	b, err := telemetry.MarshalPublicJWK(key.Public(), iomt.MustParseDeviceID("6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70"))
	fmt.Println(string(b), err)
	// Output:
	// {"alg":"EdDSA","crv":"Ed25519","kid":"6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70","kty":"OKP","use":"sig","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"} <nil>
}
