package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openiomt/sdk/internal/testenv"
)

func TestLoadtestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"loadtest", "--broker", "http://127.0.0.1:1883"},
		{"loadtest", "--devices", "0"},
		{"loadtest", "--rate", "-5"},
		{"loadtest", "--store", "mysql"},
		{"loadtest", "--store", "postgres"},
		{"loadtest", "--alg", "HS256"},
		{"loadtest", "--workers", "1000"},
		{"loadtest", "--presign", "--rate", "100000", "--duration", "1h"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want usage error", args, code, stderr)
		}
	}
	code, out, _ := runCLI(t, "", "loadtest", "--help")
	if code != 0 || !strings.Contains(out, "--verify=false --store=none") {
		t.Fatalf("--help: %d %q", code, out)
	}
}

// A short run through Mosquitto with verification and SQLite: nothing may
// be lost, rejected or duplicated. The broker is the test's own: on the
// shared one, other packages' tests publish telemetry at the same time,
// which the loadtest's ingest (subscribed to every device's topic) rightly
// rejects as unknown devices.
func TestLoadtestRunsEndToEnd(t *testing.T) {
	url := "mqtt://" + testenv.StartMosquitto(t, testenv.MosquittoConfig{}).Addr
	db := filepath.Join(t.TempDir(), "lt.db")
	for _, presign := range []bool{false, true} {
		code, out, stderr := runCLI(t, "", "loadtest", "--broker", url, "--devices", "4", "--rate", "200",
			"--duration", "1s", "--workers", "2", "--store", "sqlite", "--db", db, "--compare", "--json",
			"--presign="+strconv.FormatBool(presign))
		if code != 0 {
			t.Fatalf("exit %d: %s %s", code, out, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("want baseline and full results, got %q", out)
		}
		for _, l := range lines {
			var r loadtestResult
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			if r.Sent == 0 || r.Stored != r.Sent || r.Lost != 0 || r.Rejected != 0 || r.Duplicates != 0 || r.Presigned != presign {
				t.Fatalf("%s (presign %v): %+v", r.Phase, presign, r)
			}
		}
	}
}
