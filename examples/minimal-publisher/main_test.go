package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
)

// TestPublishOneReading runs the example against the test broker (plaintext,
// loopback) and waits for the broker's acknowledgement. Nothing subscribes to
// the fresh device's topic on the shared broker, so Mosquitto answers "no
// matching subscribers"; --accept-no-subscribers counts that as delivered.
func TestPublishOneReading(t *testing.T) {
	url := testenv.MQTTURL(t)
	dir := t.TempDir()
	key, _ := telemetry.GenerateKey(telemetry.EdDSA, nil)
	dev, _ := iomt.NewDeviceID(nil)
	pat, _ := iomt.NewPatientID(nil)
	b, err := telemetry.MarshalPrivateJWK(key, dev)
	if err != nil {
		t.Fatal(err)
	}
	jwk := filepath.Join(dir, "dev.jwk")
	if err := os.WriteFile(jwk, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--broker", url, "--jwk", jwk, "--patient", pat.String(), "--state", filepath.Join(dir, "state"),
		"--insecure-plaintext", "--accept-no-subscribers", "--sys", "131", "--dia", "84", "--pulse", "66"}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "acknowledged") {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	// A reading the PHI guard or validation refuses never leaves the device.
	errOut.Reset()
	if code := run(context.Background(), []string{"--broker", url, "--jwk", jwk, "--patient", pat.String(), "--state", filepath.Join(dir, "state"),
		"--insecure-plaintext", "--sys", "60", "--dia", "90"}, &out, &errOut); code != 1 {
		t.Fatalf("invalid reading: exit %d", code)
	}
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--broker", "mqtts://x:1"}, &out, &out); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
