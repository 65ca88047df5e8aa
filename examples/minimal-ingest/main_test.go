package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/publisher"
	"github.com/openiomt/sdk/telemetry/store"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestIngestStoresSignedReading runs the example against the test broker
// (plaintext, loopback) and a device publishing with the SDK publisher.
func TestIngestStoresSignedReading(t *testing.T) {
	url := testenv.MQTTURL(t)
	dir := t.TempDir()
	key, _ := telemetry.GenerateKey(telemetry.ES256, nil)
	dev, _ := iomt.NewDeviceID(nil)
	pat, _ := iomt.NewPatientID(nil)
	pub, err := telemetry.MarshalPublicJWK(key.Public(), dev)
	if err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(dir, "devices.jwks")
	if err := os.WriteFile(jwks, []byte(`{"keys":[`+string(pub)+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	group := "minimal-ingest-" + hex.EncodeToString(rnd[:])
	db := filepath.Join(dir, "readings.db")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--broker", url, "--jwks", jwks, "--db", db, "--client-id", group + "-w", "--group", group, "--insecure-plaintext"}, &out, &out)
	}()

	signer, err := telemetry.NewSigner(telemetry.SignerConfig{Key: key, Device: dev, Patient: pat, Sequence: telemetry.NewMemorySequence(0)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := publisher.New(publisher.Config{ServerURL: url, DeviceID: dev, StateDir: filepath.Join(dir, "dev"), Signer: signer, InsecurePlaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	time.Sleep(500 * time.Millisecond) // let the worker subscribe
	if err := p.Publish(ctx, iomt.BloodPressure{Systolic: 128, Diastolic: 82, Pulse: 71, MeasuredAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := st.ByPatient(ctx, pat, store.Range{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].DeviceID == dev && rows[0].Seq == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reading not stored; output:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), nil, &out, &out); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
