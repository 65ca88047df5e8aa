package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/ota"
)

// otaEnv is a temp directory with key files and an image.
type otaEnv struct {
	t   *testing.T
	dir string
}

func newOTAEnv(t *testing.T) *otaEnv {
	t.Helper()
	return &otaEnv{t: t, dir: t.TempDir()}
}

func (e *otaEnv) path(name string) string { return filepath.Join(e.dir, name) }

// key writes NAME.jwk (private) and NAME.pub.jwk and returns the private path.
func (e *otaEnv) key(name, alg string) string {
	e.t.Helper()
	k, err := ota.GenerateKey(alg, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	priv, err := k.MarshalPrivateJWK()
	if err != nil {
		e.t.Fatal(err)
	}
	pub, _ := k.Public().MarshalJSON()
	if err := os.WriteFile(e.path(name+".jwk"), priv, 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.path(name+".pub.jwk"), pub, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return e.path(name + ".jwk")
}

func (e *otaEnv) file(name string, data []byte) string {
	e.t.Helper()
	if err := os.WriteFile(e.path(name), data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return e.path(name)
}

func (e *otaEnv) run(wantCode int, args ...string) (string, string) {
	e.t.Helper()
	code, out, errOut := runCLI(e.t, "", args...)
	if code != wantCode {
		e.t.Fatalf("iomt %s: exit %d, want %d; stderr %q", strings.Join(args, " "), code, wantCode, errOut)
	}
	if code != 0 && strings.Count(errOut, "\n") != 1 {
		e.t.Fatalf("stderr not one line: %q", errOut)
	}
	return out, errOut
}

// setup creates root keys r1,r2 (threshold 2), targets t1,t2 (threshold
// thr), root.json and an image.
func (e *otaEnv) setup(targetsThr string) {
	r1, r2 := e.key("r1", ota.AlgES256), e.key("r2", ota.AlgEdDSA)
	e.key("t1", ota.AlgEdDSA)
	e.key("t2", ota.AlgES256)
	e.run(0, "ota", "root", "init", "--root-key", r1, "--root-key", r2, "--root-threshold", "2",
		"--targets-key", e.path("t1.pub.jwk"), "--targets-key", e.path("t2.pub.jwk"), "--targets-threshold", targetsThr,
		"--expires", "365d", "--out", e.path("root.json"))
	e.file("fw.img", bytes.Repeat([]byte("firmware"), 100_000))
}

func (e *otaEnv) sign(out string, mver, sver string, keys ...string) {
	e.t.Helper()
	args := []string{"ota", "sign", "--image", e.path("fw.img"), "--name", "bpm-firmware", "--version", "1.4.2",
		"--security-version", sver, "--hardware", "bpm-rev-c", "--hardware", "bpm-rev-d", "--manifest-version", mver,
		"--expires", "30d", "--url", "https://updates.example.com/fw.img", "--out", e.path(out)}
	for _, k := range keys {
		args = append(args, "--key", e.path(k+".jwk"))
	}
	e.run(0, args...)
}

func (e *otaEnv) verify(code int, manifest string, extra ...string) (string, string) {
	e.t.Helper()
	args := append([]string{"ota", "verify", "--root", e.path("root.json"), "--manifest", e.path(manifest),
		"--image", e.path("fw.img"), "--hardware", "bpm-rev-c"}, extra...)
	return e.run(code, args...)
}

func TestOTACLIReleaseRoundTrip(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("2")
	e.sign("m.json", "7", "3", "t1", "t2")
	out, _ := e.verify(0, "m.json")
	var rep verifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if rep.Name != "bpm-firmware" || rep.ManifestVersion != 7 || rep.SecurityVersion != 3 || rep.Length != 800_000 || rep.RootVersion != 1 || rep.Committed {
		t.Fatalf("report %+v", rep)
	}
	for _, name := range []string{"r1.jwk", "t1.jwk"} {
		if fi, _ := os.Stat(e.path(name)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", name, fi.Mode())
		}
	}
}

func TestOTACLIBelowThresholdSignatures(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("2")
	e.sign("m.json", "7", "3", "t1")
	_, stderr := e.verify(1, "m.json")
	if !strings.Contains(stderr, "signature") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLIArbitraryInstallationWrongKey(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	e.key("evil", ota.AlgEdDSA)
	e.sign("m.json", "7", "3", "evil")
	if _, stderr := e.verify(1, "m.json"); !strings.HasPrefix(stderr, "iomt: signature:") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLIWrongHardware(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	e.sign("m.json", "7", "3", "t1")
	_, stderr := e.run(1, "ota", "verify", "--root", e.path("root.json"), "--manifest", e.path("m.json"),
		"--image", e.path("fw.img"), "--hardware", "infusion-pump")
	if !strings.HasPrefix(stderr, "iomt: hardware:") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLITamperedImages(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	e.sign("m.json", "7", "3", "t1")
	img, _ := os.ReadFile(e.path("fw.img"))
	for rule, evil := range map[string][]byte{
		"image-digest":    append(append([]byte{}, img[:len(img)-1]...), 'X'),
		"image-too-long":  append(append([]byte{}, img...), 0),
		"image-truncated": img[:len(img)-1],
	} {
		e.file("fw.img", evil)
		if _, stderr := e.verify(1, "m.json"); !strings.HasPrefix(stderr, "iomt: "+rule+":") {
			t.Errorf("%s: stderr %q", rule, stderr)
		}
	}
}

func TestOTACLIRollbackWithState(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	state := e.path("state")
	e.sign("m7.json", "7", "3", "t1")
	out, _ := e.verify(0, "m7.json", "--state", state, "--commit")
	if !strings.Contains(out, `"committed": true`) {
		t.Fatalf("out %q", out)
	}
	if c, _ := os.ReadFile(filepath.Join(state, "counter")); strings.TrimSpace(string(c)) != "3" {
		t.Fatalf("counter %q", c)
	}
	if fi, _ := os.Stat(state); fi.Mode().Perm() != 0o700 {
		t.Fatalf("state mode %v", fi.Mode())
	}
	// Lower security version, newer manifest: firmware rollback.
	e.sign("m8.json", "8", "2", "t1")
	if _, stderr := e.verify(1, "m8.json", "--state", state); !strings.HasPrefix(stderr, "iomt: security-rollback:") {
		t.Fatalf("stderr %q", stderr)
	}
	// Older manifest version: manifest rollback.
	e.sign("m6.json", "6", "3", "t1")
	if _, stderr := e.verify(1, "m6.json", "--state", state); !strings.HasPrefix(stderr, "iomt: manifest-rollback:") {
		t.Fatalf("stderr %q", stderr)
	}
	// Verified without --commit: the counter stays.
	e.sign("m9.json", "9", "5", "t1")
	e.verify(0, "m9.json", "--state", state)
	if c, _ := os.ReadFile(filepath.Join(state, "counter")); strings.TrimSpace(string(c)) != "3" {
		t.Fatalf("counter advanced without commit: %q", c)
	}
}

func TestOTACLIRotationMixAndMatch(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	state := e.path("state")
	e.sign("old.json", "7", "3", "t1")
	e.verify(0, "old.json", "--state", state)
	e.key("t3", ota.AlgES256)
	e.key("r3", ota.AlgES256)
	// Rotation signed only by a new key: rejected by rotate itself.
	e.run(1, "ota", "root", "rotate", "--root", e.path("root.json"), "--root-key", e.path("r3.jwk"),
		"--new-root-key", e.path("r3.jwk"), "--root-threshold", "1", "--out", e.path("evil.json"))
	e.run(0, "ota", "root", "rotate", "--root", e.path("root.json"), "--root-key", e.path("r1.jwk"), "--root-key", e.path("r2.jwk"),
		"--new-root-key", e.path("r3.jwk"), "--root-threshold", "1", "--targets-key", e.path("t3.pub.jwk"), "--out", e.path("root2.json"))
	e.sign("new.json", "8", "3", "t3")
	rootArgs := []string{"--root", e.path("root.json"), "--root", e.path("root2.json")}
	verify := func(code int, m string) string {
		_, stderr := e.run(code, append(append([]string{"ota", "verify"}, rootArgs...), "--manifest", e.path(m),
			"--image", e.path("fw.img"), "--hardware", "bpm-rev-c", "--state", state)...)
		return stderr
	}
	if stderr := verify(1, "old.json"); !strings.HasPrefix(stderr, "iomt: signature:") {
		t.Fatalf("revoked key accepted: %q", stderr)
	}
	out, _ := e.run(0, append(append([]string{"ota", "verify"}, rootArgs...), "--manifest", e.path("new.json"),
		"--image", e.path("fw.img"), "--hardware", "bpm-rev-c", "--state", state)...)
	if !strings.Contains(out, `"root_version": 2`) {
		t.Fatalf("out %q", out)
	}
	// The device now trusts root 2 even when only given root 1 again.
	if stderr := verify(1, "old.json"); !strings.HasPrefix(stderr, "iomt: signature:") {
		t.Fatalf("stderr %q", stderr)
	}
	// New root keys must sign their own root: a public key file is refused.
	e.key("r4", ota.AlgEdDSA)
	e.run(2, "ota", "root", "rotate", "--root", e.path("root2.json"), "--root-key", e.path("r3.jwk"),
		"--new-root-key", e.path("r4.pub.jwk"), "--out", e.path("root3.json"))
}

func TestOTACLIExpiredManifest(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	k, _ := os.ReadFile(e.path("t1.jwk"))
	tk, err := ota.ParsePrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	m := &ota.Manifest{ManifestVersion: 1, Expires: time.Now().Add(-time.Minute), Name: "bpm-firmware", Version: "1.0.0",
		Hardware: []string{"bpm-rev-c"}, Length: 800_000,
		SHA256: "0000000000000000000000000000000000000000000000000000000000000000"}
	b, err := ota.SignManifest(rand.Reader, m, []*ota.PrivateKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	e.file("expired.json", b)
	if _, stderr := e.verify(1, "expired.json"); !strings.HasPrefix(stderr, "iomt: expired:") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLIUsageErrors(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	e.sign("m.json", "7", "3", "t1")
	for _, args := range [][]string{
		{"ota", "verify", "--root", e.path("root.json")},
		{"ota", "verify", "--root", e.path("root.json"), "--manifest", e.path("m.json"), "--image", e.path("fw.img"), "--hardware", "x", "--commit"},
		{"ota", "sign", "--key", e.path("t1.jwk")},
		{"ota", "root", "init", "--root-key", e.path("r1.jwk"), "--targets-key", e.path("t1.pub.jwk"), "--expires", "-1h", "--out", e.path("x")},
		{"ota", "root", "init", "--root-key", e.path("t1.pub.jwk"), "--targets-key", e.path("t1.pub.jwk"), "--expires", "1d", "--out", e.path("x")},
		{"ota", "root", "init", "--root-key", e.path("r1.jwk"), "--root-threshold", "2", "--targets-key", e.path("t1.pub.jwk"), "--expires", "1d", "--out", e.path("x")},
		{"ota", "sign", "--key", e.path("t1.jwk"), "--image", e.path("fw.img"), "--name", "n", "--version", "v1", "--security-version", "1",
			"--hardware", "h", "--manifest-version", "1", "--expires", "1d", "--out", e.path("x")},
		{"ota", "verify", "--root", e.path("missing.json"), "--manifest", e.path("m.json"), "--image", e.path("fw.img"), "--hardware", "x"},
	} {
		e.run(2, args...)
	}
	// Garbage where a root belongs is a failed check, not a usage error.
	e.file("junk.json", []byte(`{"payload":"e30","signatures":[]}`))
	if _, stderr := e.run(1, "ota", "verify", "--root", e.path("junk.json"), "--manifest", e.path("m.json"),
		"--image", e.path("fw.img"), "--hardware", "bpm-rev-c"); !strings.HasPrefix(stderr, "iomt: malformed:") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLIProgress(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	e.sign("m.json", "7", "3", "t1")
	_, stderr := e.verify(0, "m.json", "--progress", "always")
	if !strings.Contains(stderr, "(100%)") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLIDuplicateSignatureCountedOnce(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("2")
	e.sign("m.json", "7", "3", "t1")
	var doc map[string]any
	b, _ := os.ReadFile(e.path("m.json"))
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	sigs := doc["signatures"].([]any)
	doc["signatures"] = append(sigs, sigs[0])
	b, _ = json.Marshal(doc)
	e.file("dup.json", b)
	if _, stderr := e.verify(1, "dup.json"); !strings.HasPrefix(stderr, "iomt: signature:") || !strings.Contains(stderr, "1 valid") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLIIndefiniteFreezeExpiredRoot(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	rk, _ := os.ReadFile(e.path("r1.jwk"))
	k, err := ota.ParsePrivateKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := os.ReadFile(e.path("t1.pub.jwk"))
	tk, _ := ota.ParsePublicKey(tb)
	r := &ota.Root{Version: 1, Expires: time.Now().Add(-time.Hour)}
	r.Roles.Root = ota.Role{KeyIDs: []string{r.AddKey(k.Public())}, Threshold: 1}
	r.Roles.Targets = ota.Role{KeyIDs: []string{r.AddKey(tk)}, Threshold: 1}
	b, err := ota.SignRoot(rand.Reader, r, []*ota.PrivateKey{k})
	if err != nil {
		t.Fatal(err)
	}
	e.file("root.json", b)
	e.sign("m.json", "7", "3", "t1")
	if _, stderr := e.verify(1, "m.json"); !strings.HasPrefix(stderr, "iomt: expired:") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestOTACLIFastForwardRecoveryAfterKeyRotation(t *testing.T) {
	t.Parallel()
	e := newOTAEnv(t)
	e.setup("1")
	state := e.path("state")
	// A compromised targets key t1 pushed manifest version 1000000.
	e.sign("evil.json", "1000000", "3", "t1")
	e.verify(0, "evil.json", "--state", state)
	e.sign("m8.json", "8", "3", "t2")
	if _, stderr := e.verify(1, "m8.json", "--state", state); !strings.HasPrefix(stderr, "iomt: manifest-rollback:") {
		t.Fatalf("stderr %q", stderr)
	}
	// The maker revokes t1 (targets role now t2 only): the device recovers.
	e.run(0, "ota", "root", "rotate", "--root", e.path("root.json"), "--root-key", e.path("r1.jwk"), "--root-key", e.path("r2.jwk"),
		"--targets-key", e.path("t2.pub.jwk"), "--out", e.path("root2.json"))
	out, _ := e.run(0, "ota", "verify", "--root", e.path("root2.json"), "--manifest", e.path("m8.json"),
		"--image", e.path("fw.img"), "--hardware", "bpm-rev-c", "--state", state)
	if !strings.Contains(out, `"manifest_version": 8`) || !strings.Contains(out, `"root_version": 2`) {
		t.Fatalf("out %q", out)
	}
}
