package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/sqlite"
)

// siloFixture makes a SQLite silo with some audited traffic and returns the
// database path, the keyset path and the checkpoint public JWK path.
func siloFixture(t *testing.T) (db, keyset, pubJWK string) {
	t.Helper()
	dir := t.TempDir()
	db, keyset, pubJWK = filepath.Join(dir, "silo.db"), filepath.Join(dir, "keyset.json"), filepath.Join(dir, "cp.pub.jwk")
	ctx := context.Background()
	b, err := sqlite.Open(ctx, sqlite.Config{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ks, err := phisilo.NewKeyset(keyset, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := phisilo.New(phisilo.Config{Backend: b, Keys: ks, CheckpointKey: priv, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	app := phisilo.Principal{UserID: "app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	for i := 0; i < 5; i++ {
		id, err := s.Register(ctx, app, phisilo.Record{Name: phisilo.Name{Given: "Ada"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		dr := phisilo.Principal{UserID: "dr|x=1", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeTreatment}
		_, _ = s.Get(ctx, dr, id) // denied, audited
	}
	k, _ := jwk.Import(pub)
	j, _ := json.Marshal(k)
	if err := os.WriteFile(pubJWK, j, 0o644); err != nil {
		t.Fatal(err)
	}
	return db, keyset, pubJWK
}

func TestAuditVerifyAndTamper(t *testing.T) {
	db, _, pub := siloFixture(t)
	code, out, errOut := runCLI(t, "", "audit", "verify", "--sqlite", db, "--checkpoint-key", pub, "--checkpoint-every", "4")
	if code != 0 || out != "ok: 10 entries verified\n" {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	b, err := sqlite.Open(context.Background(), sqlite.Config{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.DB.Exec(`DELETE FROM phisilo_audit WHERE seq = 6`); err != nil {
		t.Fatal(err)
	}
	b.Close()
	code, _, errOut = runCLI(t, "", "audit", "verify", "--sqlite", db, "--checkpoint-key", pub)
	if code != exitFailed || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "audit-chain") || !strings.Contains(errOut, "entry 6") {
		t.Fatalf("tampered verify: %d %q", code, errOut)
	}
}

func TestAuditExportFormats(t *testing.T) {
	db, _, _ := siloFixture(t)
	for _, f := range []string{"jsonl", "fhir", "cef"} {
		code, out, errOut := runCLI(t, "", "audit", "export", "--sqlite", db, "--format", f, "--after", "2", "--limit", "5")
		if code != 0 {
			t.Fatalf("%s: %d %s", f, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 {
			t.Fatalf("%s: %d lines, want 5", f, len(lines))
		}
		switch f {
		case "cef":
			if !strings.HasPrefix(lines[0], "CEF:0|openiomt|phisilo|") || !strings.Contains(out, `suser=dr|x\=1`) {
				t.Fatalf("cef: %s", lines[0])
			}
		case "fhir":
			if !strings.Contains(lines[0], `"resourceType":"AuditEvent"`) || !strings.Contains(lines[0], `"id":"phisilo-3"`) {
				t.Fatalf("fhir: %s", lines[0])
			}
		}
	}
	if code, _, _ := runCLI(t, "", "audit", "export", "--sqlite", db, "--format", "xml"); code != exitUsage {
		t.Fatalf("bad format: exit %d", code)
	}
	if code, _, _ := runCLI(t, "", "audit", "export", "--format", "jsonl"); code != exitUsage {
		t.Fatalf("no store: exit %d", code)
	}
}

func TestKeysRotateRewrapRetire(t *testing.T) {
	db, keyset, _ := siloFixture(t)
	code, out, errOut := runCLI(t, "", "keys", "rotate", "--keyset", keyset)
	if code != 0 || !strings.Contains(out, "primary version 2") {
		t.Fatalf("rotate: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", "keys", "rewrap", "--keyset", keyset, "--sqlite", db, "--retire")
	if code != 0 || !strings.Contains(out, "rewrapped 5 data keys to version 2") || !strings.Contains(out, "minimum version now 2") {
		t.Fatalf("rewrap: %d %q %q", code, out, errOut)
	}
	ks, err := phisilo.OpenKeyset(keyset, nil)
	if err != nil || ks.MinVersion() != 2 {
		t.Fatalf("keyset after retire: %v", err)
	}
	if code, out, _ := runCLI(t, "", "keys", "rewrap", "--keyset", keyset, "--sqlite", db); code != 0 || !strings.Contains(out, "rewrapped 0") {
		t.Fatalf("second rewrap: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "", "keys", "init", "--keyset", keyset); code != exitUsage {
		t.Fatalf("init over an existing keyset: exit %d", code)
	}
	fresh := filepath.Join(t.TempDir(), "k.json")
	if code, out, _ := runCLI(t, "", "keys", "init", "--keyset", fresh); code != 0 || !strings.Contains(out, "primary version 1") {
		t.Fatalf("init: %d %q", code, out)
	}
}
