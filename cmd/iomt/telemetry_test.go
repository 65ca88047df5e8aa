package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const cliPatient = "a3e1f2d4-5b6c-4d7e-8f90-1a2b3c4d5e6f"

func signCLI(t *testing.T, prefix, dev, seq, data string, extra ...string) (int, string, string) {
	t.Helper()
	args := append([]string{"telemetry", "sign", "--key", prefix + ".jwk", "--device", dev,
		"--patient", cliPatient, "--seq", seq, "--kind", "blood_pressure", "--data", data}, extra...)
	return runCLI(t, "", args...)
}

func TestTelemetrySignVerify(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			prefix, dev := keygen(t, dir, alg, "")
			code, env, stderr := signCLI(t, prefix, dev, "41", `{"sys":120,"dia":80,"pulse":64}`)
			if code != 0 {
				t.Fatalf("sign: exit %d: %s", code, stderr)
			}
			if strings.Count(env, ".") != 2 || !strings.HasSuffix(env, "\n") {
				t.Fatalf("sign output %q is not one compact JWS line", env)
			}
			code, out, stderr := runCLI(t, env, "telemetry", "verify", "--jwks", prefix+".pub.jwk")
			if code != 0 {
				t.Fatalf("verify: exit %d: %s", code, stderr)
			}
			var p struct {
				V    int             `json:"v"`
				Dev  string          `json:"dev"`
				Pat  string          `json:"pat"`
				Seq  uint64          `json:"seq"`
				TS   time.Time       `json:"ts"`
				Kind string          `json:"kind"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatalf("verify output %q: %v", out, err)
			}
			if p.V != 1 || p.Dev != dev || p.Pat != cliPatient || p.Seq != 41 || p.Kind != "blood_pressure" ||
				string(p.Data) != `{"sys":120,"dia":80,"unit":0,"pulse":64,"status":0}` {
				t.Fatalf("payload %+v", p)
			}

			// From a file, and against a JWK set holding the key.
			in := filepath.Join(dir, "env.jws")
			os.WriteFile(in, []byte(env), 0o600)
			pub, _ := os.ReadFile(prefix + ".pub.jwk")
			set := filepath.Join(dir, "fleet.jwks")
			os.WriteFile(set, []byte(`{"keys":[`+strings.TrimSpace(string(pub))+`]}`), 0o600)
			if code, _, stderr := runCLI(t, "", "telemetry", "verify", "--jwks", set, "--in", in); code != 0 {
				t.Fatalf("verify --in with JWK set: exit %d: %s", code, stderr)
			}
			topic := "iomt/v1/" + dev + "/telemetry/blood_pressure"
			if code, _, stderr := runCLI(t, env, "telemetry", "verify", "--jwks", set, "--topic", topic); code != 0 {
				t.Fatalf("verify --topic: exit %d: %s", code, stderr)
			}
			code, _, stderr = runCLI(t, env, "telemetry", "verify", "--jwks", set, "--topic", "iomt/v1/"+dev+"/telemetry/glucose")
			if code != exitFailed || !strings.HasPrefix(stderr, "iomt: topic:") {
				t.Fatalf("verify wrong topic: exit %d: %q", code, stderr)
			}
		})
	}
}

func TestTelemetryVerifyRejections(t *testing.T) {
	dir := t.TempDir()
	prefix, dev := keygen(t, dir, "ES256", "")
	other, _ := keygen(t, filepath.Join(dir), "EdDSA", "")
	_, env, _ := signCLI(t, prefix, dev, "1", `{"sys":120,"dia":80}`)
	_, env2, _ := signCLI(t, prefix, dev, "2", `{"sys":121,"dia":80}`)
	// Change one signature character to another base64url character (a
	// flipped bit could leave the alphabet: '-' ^ 1 is ',') in a full
	// 4-character group, so the decoded signature differs.
	tampered := []byte(env)
	i := len(tampered) - 5
	if c := tampered[i]; c == '\n' || c == '.' {
		t.Fatal("bad tamper position")
	} else if c == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	for _, tc := range []struct {
		name, input, jwks, rule string
		extra                   []string
	}{
		{"replay", env + env, prefix + ".pub.jwk", "replay", nil},
		{"tamper", string(tampered), prefix + ".pub.jwk", "signature", nil},
		{"unknown device", env, other + ".pub.jwk", "unknown-device", nil},
		{"garbage", "hello\n", prefix + ".pub.jwk", "malformed", nil},
		{"oversize", strings.Repeat("A", 10000) + "\n", prefix + ".pub.jwk", "size", nil},
		{"empty input", "\n", prefix + ".pub.jwk", "input", nil},
		{"stale", env2, prefix + ".pub.jwk", "time", []string{"--max-age", "1ns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"telemetry", "verify", "--jwks", tc.jwks}, tc.extra...)
			code, _, stderr := runCLI(t, tc.input, args...)
			if code != exitFailed || !strings.HasPrefix(stderr, "iomt: "+tc.rule+":") || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q, want rule %s", code, stderr, tc.rule)
			}
		})
	}
}

func TestTelemetrySignRefusesPHIAndInvalidReadings(t *testing.T) {
	dir := t.TempDir()
	prefix, dev := keygen(t, dir, "EdDSA", "")
	for _, tc := range []struct{ data, rule string }{
		{`{"sys":120,"dia":80,"note":"John Smith"}`, "phi"},
		{`{"sys":120,"dia":"80"}`, "phi"},
		{`{"sys":120,"dia":80,"weight":80}`, "unknown-field"},
		{`{"sys":120,"dia":80,"SYS":120}`, "unknown-field"},
		{`{"sys":30,"dia":20}`, "reading"},
		{`{"sys":120,"dia":80,"unit":1.5}`, "malformed"},
		{`[1,2]`, "malformed"},
	} {
		code, out, stderr := signCLI(t, prefix, dev, "1", tc.data)
		if code != exitFailed || !strings.HasPrefix(stderr, "iomt: "+tc.rule+":") || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q, want rule %s", tc.data, code, out, stderr, tc.rule)
		}
		if strings.Contains(stderr, "John") {
			t.Errorf("stderr echoes the PHI: %q", stderr)
		}
	}
	// The key belongs to another device.
	code, _, stderr := signCLI(t, prefix, "0b7e3c2a-1d4f-4e6a-8b9c-7d2e1f0a3b4c", "1", `{"sys":120,"dia":80}`)
	if code != exitFailed || !strings.HasPrefix(stderr, "iomt: kid:") {
		t.Errorf("foreign device: exit %d, %q", code, stderr)
	}
}

func TestTelemetrySignUsage(t *testing.T) {
	dir := t.TempDir()
	prefix, dev := keygen(t, dir, "EdDSA", "")
	good := map[string]string{"--key": prefix + ".jwk", "--device": dev, "--patient": cliPatient, "--seq": "1", "--kind": "blood_pressure", "--data": `{"sys":120,"dia":80}`}
	for _, bad := range []struct{ flag, value string }{
		{"--seq", "0"}, {"--seq", "-1"}, {"--seq", "x"}, {"--kind", "weight"}, {"--device", "6F1C2B1E-8D3A-4C55-9A7E-2B9D4E5F6A70"},
		{"--patient", "john@example.com"}, {"--key", ""}, {"--time", "yesterday"},
	} {
		args := []string{"telemetry", "sign"}
		for f, v := range good {
			if f == bad.flag {
				v = bad.value
			}
			args = append(args, f, v)
		}
		if bad.flag == "--time" {
			args = append(args, bad.flag, bad.value)
		}
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("%s %q: exit %d, stderr %q", bad.flag, bad.value, code, stderr)
		}
		if strings.Contains(stderr, "john@") {
			t.Errorf("stderr echoes the PHI: %q", stderr)
		}
	}
	if code, _, _ := runCLI(t, "", "telemetry", "verify"); code != exitUsage {
		t.Errorf("verify without --jwks: exit %d", code)
	}
}
