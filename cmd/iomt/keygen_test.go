package main

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openiomt/sdk/telemetry"
)

// keygen runs "iomt keygen" into dir and returns the prefix and device UUID.
func keygen(t *testing.T, dir, alg, device string) (prefix, dev string) {
	t.Helper()
	prefix = filepath.Join(dir, strings.ToLower(alg))
	args := []string{"keygen", "--alg", alg, "--out", prefix}
	if device != "" {
		args = append(args, "--device", device)
	}
	code, out, stderr := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	for _, line := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(line, "device "); ok {
			dev = d
		}
	}
	return prefix, dev
}

func TestKeygenWritesPrivateAndPublicJWK(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			prefix, dev := keygen(t, dir, alg, "")
			fi, err := os.Stat(prefix + ".jwk")
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("private key mode %v, want 0600", fi.Mode().Perm())
			}
			key, kid, err := telemetry.LoadPrivateJWKFile(prefix + ".jwk")
			if err != nil {
				t.Fatal(err)
			}
			pub, pkid, err := telemetry.LoadPublicJWKFile(prefix + ".pub.jwk")
			if err != nil {
				t.Fatal(err)
			}
			if kid.String() != dev || pkid != kid {
				t.Fatalf("kid %s / %s, device %s", kid, pkid, dev)
			}
			if a, _ := telemetry.AlgorithmOf(pub); string(a) != alg {
				t.Fatalf("public key algorithm %s", a)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatal("public JWK does not match private JWK")
			}
			pubText, _ := os.ReadFile(prefix + ".pub.jwk")
			if strings.Contains(string(pubText), `"d"`) {
				t.Fatal("public JWK contains private member d")
			}
		})
	}
}

func TestKeygenUsesGivenDeviceAndNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	const dev = "6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70"
	prefix, got := keygen(t, dir, "EdDSA", dev)
	if got != dev {
		t.Fatalf("device %s, want %s", got, dev)
	}
	before, _ := os.ReadFile(prefix + ".jwk")
	code, _, stderr := runCLI(t, "", "keygen", "--alg", "EdDSA", "--out", prefix)
	if code != exitFailed || !strings.HasPrefix(stderr, "iomt: exists:") {
		t.Fatalf("second keygen: exit %d, stderr %q", code, stderr)
	}
	after, _ := os.ReadFile(prefix + ".jwk")
	if string(before) != string(after) {
		t.Fatal("existing private key was overwritten")
	}
}

func TestKeygenUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"keygen", "--out", filepath.Join(dir, "x")},
		{"keygen", "--alg", "HS256", "--out", filepath.Join(dir, "x")},
		{"keygen", "--alg", "none", "--out", filepath.Join(dir, "x")},
		{"keygen", "--alg", "ES256"},
		{"keygen", "--alg", "ES256", "--out", filepath.Join(dir, "x"), "--device", "not-a-uuid"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
