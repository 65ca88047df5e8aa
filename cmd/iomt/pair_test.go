package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// writeJWK writes k (private) to dir/name.jwk and its public half to
// dir/name.pub.jwk.
func writeJWK(t *testing.T, dir, name string, k *ecdsa.PrivateKey) (string, string) {
	t.Helper()
	priv, err := jwk.Import(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := priv.PublicKey()
	pb, _ := json.Marshal(priv)
	pu, _ := json.Marshal(pub)
	p1, p2 := filepath.Join(dir, name+".jwk"), filepath.Join(dir, name+".pub.jwk")
	os.WriteFile(p1, pb, 0o600)
	os.WriteFile(p2, pu, 0o644)
	return p1, p2
}

func TestPairEncodeDecode(t *testing.T) {
	dir := t.TempDir()
	provK, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pairK, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	prov, provPub := writeJWK(t, dir, "prov", provK)
	pair, pairPub := writeJWK(t, dir, "pair", pairK)
	psk := filepath.Join(dir, "psk.txt")
	os.WriteFile(psk, []byte("correct horse battery\n"), 0o600)
	dev := "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
	pat := "0b7c3a2e-1d4f-4a6b-9c8d-7e6f5a4b3c2d"
	nonce := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef"))
	encArgs := []string{"pair", "encode", "--key", prov, "--device-key", pairPub, "--device", dev, "--nonce", nonce,
		"--ssid", "HomeNet", "--passphrase-file", psk, "--patient", pat, "--broker", "mqtts://broker.example:8883",
		"--enroll-url", "https://enroll.example", "--token", "a.b.c", "--mtu", "20"}
	code, frames, stderr := runCLI(t, "", encArgs...)
	if code != 0 || strings.Count(frames, "\n") < 10 {
		t.Fatalf("encode: %d %q", code, stderr)
	}
	decArgs := []string{"pair", "decode", "--key", pair, "--trust", provPub, "--device", dev, "--nonce", nonce, "--frames"}
	code, out, stderr := runCLI(t, frames, decArgs...)
	if code != 0 {
		t.Fatalf("decode: %d %q", code, stderr)
	}
	var got pairOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Patient != pat || got.SSID != "HomeNet" || got.Passphrase != "(redacted)" || got.Token != "(redacted)" {
		t.Fatalf("decoded %+v", got)
	}
	if strings.Contains(out, "correct horse") {
		t.Fatal("passphrase printed without --show-secrets")
	}
	code, out, _ = runCLI(t, frames, append(decArgs, "--show-secrets")...)
	if code != 0 || !strings.Contains(out, "correct horse battery") || !strings.Contains(out, "a.b.c") {
		t.Fatalf("--show-secrets: %d", code)
	}
	// Stale nonce, another device, tampered frames, unsigned by the trusted key.
	stale := base64.RawURLEncoding.EncodeToString([]byte("fedcba9876543210"))
	for _, tc := range []struct {
		name, stdin, rule string
		args              []string
	}{
		{"stale nonce", frames, "nonce", []string{"pair", "decode", "--key", pair, "--trust", provPub, "--device", dev, "--nonce", stale, "--frames"}},
		{"other device", frames, "device", []string{"pair", "decode", "--key", pair, "--trust", provPub, "--device", "1f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "--nonce", nonce, "--frames"}},
		{"wrong trust", frames, "signature", []string{"pair", "decode", "--key", pair, "--trust", pairPub, "--device", dev, "--nonce", nonce, "--frames"}},
		{"dropped frame", dropLine(frames, 3), "frames", decArgs},
	} {
		code, _, stderr := runCLI(t, tc.stdin, tc.args...)
		if code != exitFailed || !strings.HasPrefix(stderr, "iomt: "+tc.rule+":") {
			t.Errorf("%s: exit %d, stderr %q", tc.name, code, stderr)
		}
	}
	if code, _, _ := runCLI(t, "", "pair", "encode", "--key", prov); code != exitUsage {
		t.Fatalf("missing flags: %d", code)
	}
	// Plain JWE output and file input.
	code, jweOut, _ := runCLI(t, "", encArgs[:len(encArgs)-2]...)
	if code != 0 || strings.Count(jweOut, ".") != 4 {
		t.Fatalf("JWE output: %d", code)
	}
	in := filepath.Join(dir, "payload.jwe")
	os.WriteFile(in, []byte(jweOut), 0o600)
	if code, _, stderr := runCLI(t, "", "pair", "decode", "--key", pair, "--trust", provPub, "--device", dev, "--nonce", nonce, "--in", in); code != 0 {
		t.Fatalf("decode from file: %d %q", code, stderr)
	}
}

func dropLine(s string, i int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(append(lines[:i:i], lines[i+1:]...), "\n")
}
