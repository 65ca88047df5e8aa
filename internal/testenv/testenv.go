// Package testenv gives tests the real services they need — PostgreSQL,
// Mosquitto, Chromium — and decides whether a missing one skips the test or
// fails it.
//
// Each service's address comes from an environment variable:
//
//	IOMT_TEST_POSTGRES_DSN   e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	IOMT_TEST_MQTT_URL       e.g. mqtt://127.0.0.1:1883
//	IOMT_TEST_MOSQUITTO_BIN  path to mosquitto (else looked up on PATH)
//	IOMT_TEST_CHROMIUM_BIN   path to chromium (else looked up on PATH)
//
// Without it the test is skipped, unless IOMT_REQUIRE_SERVICES=1 (as in CI),
// in which case it fails. Only loopback addresses are ever used.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether IOMT_REQUIRE_SERVICES=1: a missing service then
// fails the test instead of skipping it.
func Required() bool { return os.Getenv("IOMT_REQUIRE_SERVICES") == "1" }

// missing skips or fails t for a missing service.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("testenv: required service missing: "+format, args...)
	}
	t.Skipf("testenv: service missing, skipping: "+format, args...)
}

// MQTTURL returns IOMT_TEST_MQTT_URL (a plain MQTT broker shared by tests, such
// as Mosquitto on 127.0.0.1:1883). Tests using it must use unique client IDs and
// topics.
func MQTTURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("IOMT_TEST_MQTT_URL")
	if u == "" {
		missing(t, "IOMT_TEST_MQTT_URL not set")
	}
	return u
}

// MosquittoBin returns the mosquitto binary from IOMT_TEST_MOSQUITTO_BIN or PATH.
func MosquittoBin(t testing.TB) string {
	t.Helper()
	return binary(t, "IOMT_TEST_MOSQUITTO_BIN", "mosquitto")
}

// ChromiumBin returns the chromium binary from IOMT_TEST_CHROMIUM_BIN or PATH.
func ChromiumBin(t testing.TB) string {
	t.Helper()
	return binary(t, "IOMT_TEST_CHROMIUM_BIN", "chromium")
}

func binary(t testing.TB, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s not on PATH and %s not set", name, env)
	}
	return p
}
