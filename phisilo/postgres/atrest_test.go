package postgres_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/phisilotest"
)

// TestAtRestNoPlaintextInPostgresTables registers marker PHI and scans the
// on-disk heap files of every silo table (after a CHECKPOINT), their text
// rendering, the logs and the error strings.
func TestAtRestNoPlaintextInPostgresTables(t *testing.T) {
	b := openDSN(t, testenv.FreshPostgresDSN(t))
	defer b.Close()
	ks, err := phisilo.NewKeyset("", nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := phisilo.New(phisilo.Config{Backend: b, Keys: ks, CheckpointKey: priv, CheckpointEvery: 3, PasswordIterations: 1000,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	id, errs := phisilotest.ExerciseWithMarkers(t, s)
	ctx := context.Background()
	if _, err := b.DB.ExecContext(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	tables := []string{"records", "keys", "grants", "accounts", "sessions", "audit", "audit_head", "checkpoints"}
	for _, tb := range tables {
		var heap []byte
		err := b.DB.QueryRowContext(ctx, "SELECT pg_read_binary_file(pg_relation_filepath($1))", "phisilo_"+tb).Scan(&heap)
		if err != nil {
			t.Skipf("cannot read heap files (needs superuser): %v", err)
		}
		phisilotest.AssertNoMarkers(t, "heap of phisilo_"+tb, heap)
		var text string
		if err := b.DB.QueryRowContext(ctx, "SELECT coalesce(string_agg(t::text, ''), '') FROM phisilo_"+tb+" t").Scan(&text); err != nil {
			t.Fatal(err)
		}
		phisilotest.AssertNoMarkers(t, "rows of phisilo_"+tb, []byte(text))
		if tb == "records" && len(heap) == 0 {
			t.Fatal("records heap empty: the scan saw nothing")
		}
	}
	phisilotest.AssertNoMarkers(t, "logs", logs.Bytes())
	phisilotest.AssertNoMarkers(t, "error strings", []byte(strings.Join(errs, "\n")))

	// Crypto-shredding: the key row is gone; the record is unreadable.
	own := phisilo.Principal{UserID: "marker-user", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
	if err := s.Delete(ctx, own, id); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.DB.QueryRowContext(ctx, "SELECT count(*) FROM phisilo_keys").Scan(&n); err != nil || n != 0 {
		t.Fatalf("keys left after delete: %d, %v", n, err)
	}
	if _, err := s.Get(ctx, own, id); !errors.Is(err, phisilo.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	// Tamper: edit one audit row in the table.
	if _, err := b.DB.ExecContext(ctx, "UPDATE phisilo_audit SET body = body || '\\x20'::bytea WHERE seq = 3"); err != nil {
		t.Fatal(err)
	}
	var ve *phisilo.AuditVerifyError
	if _, err := s.VerifyAudit(ctx); !errors.As(err, &ve) || ve.Seq != 3 {
		t.Fatalf("VerifyAudit after edit = %v, want failure at 3", err)
	}
}
