package sqlite_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/phisilotest"
	"github.com/openiomt/sdk/phisilo/sqlite"
)

func newSilo(t *testing.T, b phisilo.Backend, log *slog.Logger) (*phisilo.Silo, *phisilo.Keyset) {
	t.Helper()
	ks, err := phisilo.NewKeyset(filepath.Join(t.TempDir(), "keyset.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := phisilo.New(phisilo.Config{Backend: b, Keys: ks, Logger: log, CheckpointKey: priv, CheckpointEvery: 3, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return s, ks
}

func scanDir(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestAtRestNoPlaintextInSQLiteFile registers marker PHI, exercises every
// call, and scans the database file, its WAL, the logs and every error
// string for the markers.
func TestAtRestNoPlaintextInSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	b := openAt(t, filepath.Join(dir, "silo.db"))
	var logs bytes.Buffer
	s, _ := newSilo(t, b, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	_, errs := phisilotest.ExerciseWithMarkers(t, s)
	if len(errs) == 0 {
		t.Fatal("exercise produced no errors to scan")
	}
	phisilotest.AssertNoMarkers(t, "database file (WAL open)", scanDir(t, dir))
	b.Close()
	phisilotest.AssertNoMarkers(t, "database file", scanDir(t, dir))
	phisilotest.AssertNoMarkers(t, "logs", logs.Bytes())
	phisilotest.AssertNoMarkers(t, "error strings", []byte(strings.Join(errs, "\n")))
}

// TestCryptoShreddingSQLite: after Delete, the wrapped data key's bytes are
// gone from the file (secure_delete), so a stolen copy of the ciphertext
// cannot be decrypted even by someone holding the KEK.
func TestCryptoShreddingSQLite(t *testing.T) {
	dir := t.TempDir()
	b := openAt(t, filepath.Join(dir, "silo.db"))
	s, ks := newSilo(t, b, nil)
	ctx := context.Background()
	id, _ := phisilotest.ExerciseWithMarkers(t, s)
	var stolen phisilo.SealedRecord
	var wrapped phisilo.WrappedKey
	err := b.Update(ctx, func(tx phisilo.Tx) error {
		var err error
		if stolen, err = tx.Record(ctx, s.Tenant(), id); err != nil {
			return err
		}
		wrapped, err = tx.Key(ctx, s.Tenant(), id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	own := phisilo.Principal{UserID: "marker-user", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
	if err := s.Delete(ctx, own, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, own, id); !errors.Is(err, phisilo.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	b.Close()
	disk := scanDir(t, dir)
	if bytes.Contains(disk, wrapped.Wrapped[5:]) {
		t.Fatal("wrapped data key bytes survive in the database file after delete")
	}
	if bytes.Contains(disk, stolen.Ciphertext) {
		t.Fatal("record ciphertext survives in the database file after delete")
	}
	// The KEK alone decrypts nothing: the ciphertext is under the data key.
	// Restoring the stolen row into a backend still leaves no key to unwrap.
	b2 := openAt(t, filepath.Join(dir, "silo.db"))
	defer b2.Close()
	s2, err := phisilo.New(phisilo.Config{Backend: b2, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Update(ctx, func(tx phisilo.Tx) error { return tx.PutRecord(ctx, stolen) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, own, id); !errors.Is(err, phisilo.ErrNotFound) {
		t.Fatalf("restored ciphertext without its key: %v, want ErrNotFound", err)
	}
}

// TestTamperSQLiteAuditRows edits, deletes, inserts and reorders audit rows
// directly in the file, as an attacker with database access would.
func TestTamperSQLiteAuditRows(t *testing.T) {
	cases := []struct {
		name   string
		sql    []string
		seq    uint64
		reason string
	}{
		{"edit", []string{`UPDATE phisilo_audit SET body = body || X'20' WHERE seq = 4`}, 4, "hash"},
		{"delete", []string{`DELETE FROM phisilo_audit WHERE seq = 4`}, 4, "sequence"},
		{"insert", []string{`INSERT INTO phisilo_audit (seq, prev, hash, body) SELECT max(seq)+1, hash, zeroblob(32), CAST('{}' AS BLOB) FROM phisilo_audit WHERE seq = (SELECT max(seq) FROM phisilo_audit)`}, 0, "hash"},
		{"reorder", []string{
			`UPDATE phisilo_audit SET seq = -1 WHERE seq = 4`,
			`UPDATE phisilo_audit SET seq = 4 WHERE seq = 5`,
			`UPDATE phisilo_audit SET seq = 5 WHERE seq = -1`}, 4, "prev-hash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := openAt(t, filepath.Join(t.TempDir(), "silo.db"))
			defer b.Close()
			s, _ := newSilo(t, b, nil)
			phisilotest.ExerciseWithMarkers(t, s)
			ctx := context.Background()
			n, err := s.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range c.sql {
				if _, err := b.DB.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			want := c.seq
			if want == 0 {
				want = n + 1
			}
			_, err = s.VerifyAudit(ctx)
			var ve *phisilo.AuditVerifyError
			if !errors.As(err, &ve) || ve.Seq != want || ve.Reason != c.reason {
				t.Fatalf("VerifyAudit = %v, want failure at %d (%s)", err, want, c.reason)
			}
		})
	}
}

var _ = sqlite.DSN
