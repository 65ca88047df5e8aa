package stack

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/phone"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/provisioning/enroll"
	"github.com/openiomt/sdk/telemetry/store"
)

var portalAdmin = portal.Session{UserID: "admin", Role: portal.RoleAdmin}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestStackEndToEnd runs the cloud and two paired monitors and waits for
// the cuff history and live readings to reach the readings store.
func TestStackEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out syncBuf
	st := story.New(&out, nil)
	c, err := StartCloud(ctx, CloudConfig{StateDir: t.TempDir(), IdleTimeout: time.Minute, PasswordIterations: 1000, Story: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	dirs, err := c.Manufacture(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := StartDemo(ctx, DemoConfig{APIURL: c.APIURL, BrokerURL: c.BrokerURL, ServerRoots: c.PKI.ServerRoots,
		ProvisioningKey: c.PKI.ProvisioningKey.Public(), DeviceDirs: dirs, Interval: 300 * time.Millisecond, History: 6, DropOuts: true, Releases: c.Releases, Story: st})
	if err != nil {
		t.Fatalf("%v\nstory:\n%s", err, out.String())
	}
	defer d.Close(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := c.Store.ByPatient(ctx, d.PatientID(0), store.Range{From: time.Now().Add(-30 * 24 * time.Hour), To: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) >= 6+4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d readings stored\nstory:\n%s", len(rows), out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range d.Monitors {
		if v := m.Firmware(); v != "1.1.0" {
			t.Errorf("%s runs firmware %s, want 1.1.0 (tampered 1.1.1 and downgrade 1.0.5 refused)", m.Name(), v)
		}
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		cs, err := c.Releases.Campaigns(ctx, portalAdmin)
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, cp := range cs {
			for _, dv := range cp.Devices {
				if dv.Device == d.Monitors[0].Device() {
					states[cp.Version] = dv.State + "/" + dv.Detail
				}
			}
		}
		if states["1.1.0"] == "committed/" && states["1.1.1"] == "rejected/image-digest" && states["1.0.5"] == "rejected/security-rollback" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign states %v\nstory:\n%s", states, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if os.Getenv("BPMONITOR_STORY") != "" {
		t.Log(out.String())
	}
}

// TestImpersonationPairingAnotherPatientsMonitor: a second patient's phone
// may not re-pair a monitor bound to someone else, and pairing needs a
// patient session.
func TestImpersonationPairingAnotherPatientsMonitor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := StartCloud(ctx, CloudConfig{StateDir: t.TempDir(), IdleTimeout: time.Minute, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	dirs, err := c.Manufacture(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := StartDemo(ctx, DemoConfig{APIURL: c.APIURL, BrokerURL: c.BrokerURL, ServerRoots: c.PKI.ServerRoots,
		ProvisioningKey: c.PKI.ProvisioningKey.Public(), DeviceDirs: dirs, Interval: time.Hour, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	mallory := phone.New(c.APIURL, c.PKI.ServerRoots, "phone mallory", nil)
	var apiErr *enroll.Error
	if err := mallory.Pair(ctx, d.Monitors[0], "x", "yyyyyyyy"); !errors.Is(err, enroll.ErrUnauthenticated) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("pairing without a session: %v", err)
	}
	if _, err := mallory.Register(ctx, phisilo.Record{Name: phisilo.Name{Given: "Mallory"}}, "mallory", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Login(ctx, "mallory", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Pair(ctx, d.Monitors[0], "x", "yyyyyyyy"); !errors.Is(err, enroll.ErrDeviceBound) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Fatalf("pairing another patient's monitor: %v", err)
	}
	if d.Monitors[0].Patient() != d.PatientID(0) || d.PatientID(0).IsZero() {
		t.Fatal("monitor binding changed")
	}
}
