package stack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/monitor"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/ota/release"
)

func statusPayload(t *testing.T, dev iomt.DeviceID, campaign string, mv uint64, state, version, reason string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"v": 1, "dev": dev.String(), "campaign": campaign, "manifest_version": mv,
		"state": state, "version": version, "reason": reason, "ts": time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), `,"reason":""`, ""), `,"version":""`, ""))
}

// TestReleasesRestartKeepsCampaignsAndQuarantinesCorruptFile: the release
// side restores every campaign's per-device status from its state
// directory; a torn campaign file is quarantined and the others load.
func TestReleasesRestartKeepsCampaignsAndQuarantinesCorruptFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out syncBuf
	st := story.New(&out, nil)
	r, err := OpenReleases(dir, "https://127.0.0.1:8443", st)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PublishDemo(ctx); err != nil {
		t.Fatal(err)
	}
	dev, _ := iomt.NewDeviceID(rand.Reader)
	var names []string
	for i, rel := range DemoReleases() {
		name, _, err := r.Publish(ctx, rel) // already published: the same campaign
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		if ok, err := r.Offer(name, dev); !ok || err != nil {
			t.Fatalf("offer: %v %v", ok, err)
		}
		state, version, reason := "committed", rel.Version, ""
		if i > 0 {
			state, version, reason = "rejected", "1.1.0", "image-digest"
		}
		if err := r.ApplyStatus(release.StatusTopic(dev), statusPayload(t, dev, name, rel.ManifestVersion, state, version, reason)); err != nil {
			t.Fatal(err)
		}
	}
	want := campaignStates(t, r, dev)
	if len(want) != 3 || want["1.1.0"] != "committed/" {
		t.Fatalf("states before restart: %v", want)
	}

	r2, err := OpenReleases(dir, "https://127.0.0.1:9443", st)
	if err != nil {
		t.Fatal(err)
	}
	if got := campaignStates(t, r2, dev); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart %v, want %v", got, want)
	}
	if r2.Firmware(dev) != "1.1.0" {
		t.Fatalf("firmware after restart %q", r2.Firmware(dev))
	}

	// Tear one campaign file (a crash of a store without atomic writes, a
	// disk fault): the cloud still starts, without that campaign.
	path := filepath.Join(dir, "campaigns", names[1]+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	r3, err := OpenReleases(dir, "https://127.0.0.1:8443", st)
	if err != nil {
		t.Fatal(err)
	}
	got := campaignStates(t, r3, dev)
	if len(got) != 2 || got["1.1.0"] != "committed/" {
		t.Fatalf("after corruption: %v", got)
	}
	q, _ := filepath.Glob(filepath.Join(dir, "campaigns", "quarantine", names[1]+".json.*"))
	if len(q) != 1 || !strings.Contains(out.String(), "not restored") {
		t.Fatalf("quarantine %v; story:\n%s", q, out.String())
	}
}

// TestImpersonationOTAOffersNeedDeviceCertificate: the offer endpoint
// answers only a device certificate (the API verified it against the
// device CA and the registry's revocation state), for that device.
func TestImpersonationOTAOffersNeedDeviceCertificate(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	pki, err := LoadOrCreatePKI(filepath.Join(state, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReleases(filepath.Join(state, "ota"), "https://127.0.0.1:8443", story.New(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PublishDemo(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := pki.ServiceCertificate("ingest")
	if err != nil {
		t.Fatal(err)
	}
	svcLeaf, _ := x509.ParseCertificate(svc.Certificate[0])
	for name, tc := range map[string]struct {
		state *tls.ConnectionState
		code  int
	}{
		"plain HTTP":            {nil, http.StatusUnauthorized},
		"no client cert":        {&tls.ConnectionState{}, http.StatusUnauthorized},
		"service, not a device": {&tls.ConnectionState{PeerCertificates: []*x509.Certificate{svcLeaf}}, http.StatusForbidden},
	} {
		req := httptest.NewRequest("GET", monitor.OffersPath, nil)
		req.TLS = tc.state
		w := httptest.NewRecorder()
		r.Handler().ServeHTTP(w, req)
		if w.Code != tc.code {
			t.Errorf("%s: HTTP %d, want %d", name, w.Code, tc.code)
		}
	}
	// Nobody was recorded as offered.
	cs, _ := r.Campaigns(ctx, portalAdmin)
	for _, c := range cs {
		if len(c.Devices) != 0 {
			t.Fatalf("campaign %s lists %d devices", c.Name, len(c.Devices))
		}
	}
}
