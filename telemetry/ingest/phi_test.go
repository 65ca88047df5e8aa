package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"log/slog"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/internal/brokertest"
	"github.com/openiomt/sdk/telemetry/publisher"
	"github.com/openiomt/sdk/telemetry/store"
)

// TestNoPHIInPayloadsOrRows runs the whole path — phone registration data
// held by the test (as the PHI silo would), a device signing readings,
// the broker, the ingest, PostgreSQL — captures every MQTT payload the
// broker saw and every readings-table row, and searches both (raw and
// base64url-decoded) for any piece of the registration.
func TestNoPHIInPayloadsOrRows(t *testing.T) {
	t.Parallel()
	registration := map[string]string{
		"name": "Margaret Hamilton-Okafor", "birth_date": "1957-08-17", "phone": "+1-617-555-0143",
		"email": "m.hamilton.okafor@example.org", "address": "42 Beacon Street", "physician": "Dr. Ines Moreau",
		"mrn": "MRN-00731942",
	}
	b := brokertest.StartMochi(t, brokertest.MochiConfig{Capture: true})
	dsn := testenv.FreshPostgresDSN(t)
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := newFleet()
	d := f.add(t, mustPat()) // the silo's random patient UUID: the only link
	var logs syncBuffer      // every log line of ingest and publisher, searched too
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	startIngest(t, ingest.Config{ServerURL: b.URL, InsecurePlaintext: true, Group: "g" + uuid.NewString()[:8], Store: s, Verifier: f.verifier(t), Logger: logger, DeadLetterTopic: "deadletter/phi"})
	signer, err := telemetry.NewSigner(telemetry.SignerConfig{Key: d.key, Device: d.id, Patient: d.pat, Sequence: telemetry.NewMemorySequence(0)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := publisher.New(publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: d.id, Signer: signer, StateDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	at := time.Now().Add(-time.Hour)
	for i := range 30 {
		var r iomt.Reading = iomt.BloodPressure{Systolic: 120 + float64(i), Diastolic: 80, Pulse: 70, Unit: iomt.MmHg, MeasuredAt: at.Add(time.Duration(i) * time.Minute)}
		if i%3 == 0 {
			r = iomt.HeartRate{BPM: 60 + float64(i), MeasuredAt: at.Add(time.Duration(i) * time.Minute)}
		}
		if err := p.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A reading smuggling PHI is refused on the device, and a forged one
	// is rejected (and logged) by the ingest.
	if err := p.PublishEnvelope(ctx, d.topic(), []byte(`{"name":"`+registration["name"]+`"}`)); !errors.Is(err, publisher.ErrEnvelope) {
		t.Fatalf("PHI-bearing bytes accepted by the publisher: %v", err)
	}
	forged := forge(d.envelope(t, 1000, at), d.envelope(t, 1001, at))
	if err := p.PublishEnvelope(ctx, d.topic(), forged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "30 rows", func() bool { return count(t, s) == 30 })
	haystackLogs := func() []byte { return logs.Bytes() }

	var haystack [][]byte
	for _, pl := range b.Captured() {
		haystack = append(haystack, pl)
		for _, part := range bytes.Split(pl, []byte(".")) {
			if dec, err := base64.RawURLEncoding.DecodeString(string(part)); err == nil {
				haystack = append(haystack, dec)
			}
		}
	}
	if len(b.Captured()) < 30 {
		t.Fatalf("captured %d payloads", len(b.Captured()))
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT row_to_json(r)::text FROM iomt_readings r`)
	if err != nil {
		t.Fatal(err)
	}
	rowTexts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(rowTexts) != 30 {
		t.Fatalf("rows: %d, %v", len(rowTexts), err)
	}
	for _, r := range rowTexts {
		haystack = append(haystack, []byte(r))
	}
	if len(haystackLogs()) == 0 {
		t.Fatal("no logs captured")
	}
	logLines := haystackLogs()
	for _, field := range []string{"name", "email", "phone"} {
		if bytes.Contains(bytes.ToLower(logLines), []byte(strings.ToLower(registration[field]))) {
			t.Fatalf("registration field %q found in logs", field)
		}
	}
	for field, v := range registration {
		needles := []string{v, strings.ToLower(v)}
		for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '-' || r == '.' || r == '@' }) {
			if len(w) >= 4 {
				needles = append(needles, strings.ToLower(w))
			}
		}
		for _, h := range haystack {
			lh := strings.ToLower(string(h))
			for _, n := range needles {
				if strings.Contains(lh, strings.ToLower(n)) {
					t.Fatalf("registration field %q found in captured telemetry", field)
				}
			}
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
