package stack

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/telemetry/store"
)

// TestSplitModeMosquittoPostgres runs the split deployment: an external
// Mosquitto requiring client certificates from this cloud's CAs, and the
// PHI silo, device registry and readings in PostgreSQL; then a second view
// (PortalOnly, as "bpmonitor portal" opens it) reads the same data.
func TestSplitModeMosquittoPostgres(t *testing.T) {
	dsn := testenv.FreshPostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	state := t.TempDir()
	pki, err := LoadOrCreatePKI(filepath.Join(state, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pki.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := provisioning.MarshalPrivateKeyPEM(srv.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf, _ := x509.ParseCertificate(srv.Certificate[0])
	certFile := write("server.pem", provisioning.MarshalCertificatesPEM([]*x509.Certificate{leaf}))
	keyFile := write("server.key", keyPEM)
	caFile := write("ca.pem", provisioning.MarshalCertificatesPEM([]*x509.Certificate{pki.DeviceCA.Certificate(), pki.OperatorCA.Certificate()}))
	m := testenv.StartMosquitto(t, testenv.MosquittoConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, RequireCertificate: true})

	var out syncBuf
	st := story.New(&out, nil)
	c, err := StartCloud(ctx, CloudConfig{StateDir: state, BrokerURL: "mqtts://" + m.Addr, Postgres: dsn,
		IdleTimeout: time.Minute, PasswordIterations: 1000, Story: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	// As "bpmonitor cloud" does: status reports from the external broker,
	// and the demo releases published at start-up.
	sub, err := StartOTAStatus(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(context.Background())
	if err := c.Releases.PublishDemo(ctx); err != nil {
		t.Fatal(err)
	}
	dirs, err := c.Manufacture(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// As "bpmonitor device" does: pair, enrol, ask for offered releases.
	d, err := StartDemo(ctx, DemoConfig{APIURL: c.APIURL, BrokerURL: c.BrokerURL, ServerRoots: c.PKI.ServerRoots,
		ProvisioningKey: c.PKI.ProvisioningKey.Public(), DeviceDirs: dirs, Interval: 200 * time.Millisecond, History: 4, Readings: 3,
		CheckUpdates: true, Story: st})
	if err != nil {
		t.Fatalf("%v\nstory:\n%s\nmosquitto:\n%s", err, out.String(), m.Log())
	}
	defer d.Close(context.Background())
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := c.Store.ByPatient(ctx, d.PatientID(1), store.Range{From: time.Now().Add(-30 * 24 * time.Hour), To: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 4+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d readings in PostgreSQL, want 7\nstory:\n%s", len(rows), out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Split-mode OTA: each device installed and committed 1.1.0, refused
	// the tampered 1.1.1 and the 1.0.5 downgrade, and the cloud learnt it
	// through Mosquitto.
	for _, m := range d.Monitors {
		if v := m.Firmware(); v != "1.1.0" {
			t.Errorf("%s runs firmware %s, want 1.1.0\nstory:\n%s", m.Name(), v, out.String())
		}
	}
	want := map[string]string{"1.1.0": "committed/", "1.1.1": "rejected/image-digest", "1.0.5": "rejected/security-rollback"}
	for _, m := range d.Monitors {
		waitCampaignStates(t, c.Releases, m.Device(), want, &out)
	}
	// A second check offers nothing new: every campaign is final for them.
	for _, m := range d.Monitors {
		if got, err := m.CheckForUpdates(ctx); err != nil || len(got) != 0 {
			t.Fatalf("second check: %v %v", got, err)
		}
	}

	// A restarted cloud still shows every device's status per campaign.
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c2, err := StartCloud(ctx, CloudConfig{StateDir: state, BrokerURL: "mqtts://" + m.Addr, Postgres: dsn,
		IdleTimeout: time.Minute, PasswordIterations: 1000, Story: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(context.Background())
	for _, m := range d.Monitors {
		if got := campaignStates(t, c2.Releases, m.Device()); !maps.Equal(got, want) {
			t.Fatalf("after restart %s: %v, want %v", m.Name(), got, want)
		}
		if v := c2.Releases.Firmware(m.Device()); v != "1.1.0" {
			t.Fatalf("after restart: firmware %q", v)
		}
	}
	if err := c2.Releases.PublishDemo(ctx); err != nil {
		t.Fatal(err)
	}
	if cs, _ := c2.Releases.Campaigns(ctx, portalAdmin); len(cs) != 3 {
		t.Fatalf("republishing at start-up made %d campaigns, want the 3 restored", len(cs))
	}

	// The portal process opens the same PostgreSQL data.
	pc, err := StartCloud(ctx, CloudConfig{StateDir: state, Postgres: dsn, IdleTimeout: time.Minute, PortalOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	pcfg := pc.PortalConfig()
	pw := map[string]string{}
	for _, a := range pc.Accounts {
		pw[a.UserID] = a.Password
	}
	s, err := pcfg.Auth.Login(ctx, "dr.lee", pw["dr.lee"], "TREAT", "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pcfg.Patients.Patient(ctx, s, d.PatientID(1))
	if err != nil || p.DisplayName != "Sam Okonkwo-Hale" {
		t.Fatalf("portal view of patient 2: %+v %v", p.DisplayName, err)
	}
	rs, err := pcfg.Readings.Readings(ctx, s, d.PatientID(1), time.Now().Add(-30*24*time.Hour), time.Now())
	if err != nil || len(rs) != 7 {
		t.Fatalf("portal readings: %d %v", len(rs), err)
	}
	if bytes.Contains([]byte(out.String()), []byte("Okonkwo")) {
		t.Fatal("PHI in the story")
	}
}

// campaignStates returns "state/detail" per release version for dev, as
// the portal's campaign view shows it.
func campaignStates(t *testing.T, r *Releases, dev iomt.DeviceID) map[string]string {
	t.Helper()
	cs, err := r.Campaigns(context.Background(), portalAdmin)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, cp := range cs {
		for _, dv := range cp.Devices {
			if dv.Device == dev {
				states[cp.Version] = dv.State + "/" + dv.Detail
			}
		}
	}
	return states
}

// waitCampaignStates waits (generously: reports travel through the broker)
// until dev's campaign states are want.
func waitCampaignStates(t *testing.T, r *Releases, dev iomt.DeviceID, want map[string]string, out *syncBuf) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := campaignStates(t, r, dev)
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign states %v, want %v\nstory:\n%s", got, want, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
