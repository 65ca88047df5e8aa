package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/ota"
)

type release struct {
	srv        *httptest.Server
	files      map[string][]byte
	targets    *ota.PrivateKey
	signedRoot string
}

func newRelease(t *testing.T) *release {
	t.Helper()
	rk, _ := ota.GenerateKey(ota.AlgEdDSA, rand.Reader)
	tk, _ := ota.GenerateKey(ota.AlgEdDSA, rand.Reader)
	root := &ota.Root{Version: 1, Expires: time.Now().AddDate(1, 0, 0)}
	root.Roles.Root = ota.Role{KeyIDs: []string{root.AddKey(rk.Public())}, Threshold: 1}
	root.Roles.Targets = ota.Role{KeyIDs: []string{root.AddKey(tk.Public())}, Threshold: 1}
	signed, err := ota.SignRoot(rand.Reader, root, []*ota.PrivateKey{rk})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(path, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &release{files: map[string][]byte{}, targets: tk, signedRoot: path}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := r.files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// publish signs a release and serves it; tamper flips a byte of the served image.
func (r *release) publish(t *testing.T, version string, mv, sv uint64, tamper bool) string {
	t.Helper()
	img := make([]byte, 64<<10)
	_, _ = rand.Read(img)
	sum := sha256.Sum256(img)
	m, err := ota.SignManifest(rand.Reader, &ota.Manifest{ManifestVersion: mv, Expires: time.Now().AddDate(0, 1, 0),
		Name: "bpm-firmware", Version: version, SecurityVersion: sv, Hardware: []string{"bpm-rev-c"},
		Length: int64(len(img)), SHA256: hex.EncodeToString(sum[:]), URL: r.srv.URL + "/" + version + ".img"}, []*ota.PrivateKey{r.targets})
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		img[100] ^= 1
	}
	r.files["/"+version+".img"] = img
	r.files["/"+version+".json"] = m
	return r.srv.URL + "/" + version + ".json"
}

func TestInstallThenRefuseTamperedAndDowngrade(t *testing.T) {
	r := newRelease(t)
	state := t.TempDir()
	var out, errOut bytes.Buffer
	ctx := context.Background()
	url := r.publish(t, "1.1.0", 2, 2, false)
	if code := run(ctx, []string{"--state", state, "--hardware", "bpm-rev-c", "--manifest", url, "--init-root", r.signedRoot}, &out, &errOut, r.srv.Client()); code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "committed; anti-rollback counter 2") {
		t.Fatalf("output: %s", out.String())
	}
	for name, u := range map[string]string{
		"tampered image": r.publish(t, "1.1.1", 3, 2, true),
		"downgrade":      r.publish(t, "1.0.5", 4, 1, false),
	} {
		errOut.Reset()
		if code := run(ctx, []string{"--state", state, "--hardware", "bpm-rev-c", "--manifest", u}, &out, &errOut, r.srv.Client()); code != 1 {
			t.Fatalf("%s: exit %d", name, code)
		}
		if !strings.Contains(errOut.String(), "release refused") {
			t.Fatalf("%s: %s", name, errOut.String())
		}
	}
	c, _ := ota.NewFileCounterStore(filepath.Join(state, "counter")).Load(ctx)
	if c != 2 {
		t.Fatalf("counter %d after refusals, want 2", c)
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--state", t.TempDir()}, &out, &errOut, nil); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
