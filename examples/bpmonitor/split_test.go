package main

import (
	"context"
	"errors"
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/stack"
	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
)

// TestSplitCommandsDeviceInstallsAndRefusesUpdates runs the "cloud" and
// "device" subcommands against real Mosquitto and PostgreSQL: the devices
// ask the cloud for their offers, commit 1.1.0, refuse the tampered 1.1.1
// and the 1.0.5 downgrade (rollback), the cloud learns it through the
// broker, and a restarted cloud still shows each device's status.
func TestSplitCommandsDeviceInstallsAndRefusesUpdates(t *testing.T) {
	dsn := testenv.FreshPostgresDSN(t)
	state := t.TempDir()
	// The operator's PKI first, so Mosquitto can trust it (README step 2).
	pki, err := stack.LoadOrCreatePKI(filepath.Join(state, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pki.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteBrokerTLS(srv); err != nil {
		t.Fatal(err)
	}
	p := func(f string) string { return filepath.Join(state, "pki", f) }
	mq := testenv.StartMosquitto(t, testenv.MosquittoConfig{CAFile: p(stack.BrokerCAFile), CertFile: p(stack.BrokerCertFile),
		KeyFile: p(stack.BrokerKeyFile), RequireCertificate: true, UseIdentityAsUsername: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	startCloud := func() (*stack.Cloud, func()) {
		t.Helper()
		o := defaultOptions()
		o.State, o.BrokerURL, o.Postgres, o.APIListen = state, "mqtts://"+mq.Addr, dsn, "127.0.0.1:0"
		o.Devices, o.PublishReleases, o.Quiet, o.passwordIterations = 2, true, true, 1000
		up := make(chan *stack.Cloud, 1)
		o.onCloud = func(c *stack.Cloud) error { up <- c; return nil }
		cctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runCloud(cctx, o, io.Discard, io.Discard) }()
		select {
		case c := <-up:
			return c, func() {
				stop()
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("cloud: %v", err)
				}
			}
		case err := <-done:
			stop()
			t.Fatalf("cloud did not start: %v", err)
		case <-ctx.Done():
			t.Fatal("cloud did not start in time")
		}
		return nil, nil
	}
	c, stopCloud := startCloud()

	od := defaultOptions()
	od.State, od.Devices, od.Readings, od.Interval, od.OTA, od.OTAPoll = state, 2, 2, 200*time.Millisecond, true, 0
	var out lockedBuffer
	if err := runDevices(ctx, od, &out, io.Discard); err != nil {
		stopCloud()
		t.Fatalf("device: %v\nstory:\n%s\nmosquitto:\n%s", err, out.String(), mq.Log())
	}
	story := out.String()
	for _, want := range []string{"firmware 1.1.0 committed", "refused firmware 1.1.1: image-digest", "refused firmware 1.0.5: security-rollback"} {
		if n := strings.Count(story, want); n != 2 {
			t.Errorf("story has %q %d times, want once per device\n%s", want, n, story)
		}
	}
	dirs, err := existingDevices(state)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("devices %v %v", dirs, err)
	}
	var ids []iomt.DeviceID
	for _, d := range dirs {
		ids = append(ids, iomt.MustParseDeviceID(filepath.Base(d)))
	}
	want := map[string]string{"1.1.0": "committed/", "1.1.1": "rejected/image-digest", "1.0.5": "rejected/security-rollback"}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for got := states(t, c, id); !maps.Equal(got, want); got = states(t, c, id) {
			if time.Now().After(deadline) {
				t.Fatalf("cloud's campaign view of %s: %v, want %v", id, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stopCloud()

	// Restart: the same campaigns (not republished) with the same status.
	c, stopCloud = startCloud()
	defer stopCloud()
	admin := portal.Session{UserID: "admin", Role: portal.RoleAdmin}
	if cs, err := c.Releases.Campaigns(ctx, admin); err != nil || len(cs) != 3 {
		t.Fatalf("campaigns after restart: %d %v", len(cs), err)
	}
	for _, id := range ids {
		if got := states(t, c, id); !maps.Equal(got, want) {
			t.Fatalf("after restart %s: %v, want %v", id, got, want)
		}
	}
	// A device started again is offered nothing more: its firmware stays.
	out = lockedBuffer{}
	od.Readings = 1
	if err := runDevices(ctx, od, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "refused firmware") || strings.Contains(s, "verified (threshold") {
		t.Fatalf("re-offered after restart:\n%s", out.String())
	}
}

func states(t *testing.T, c *stack.Cloud, dev iomt.DeviceID) map[string]string {
	t.Helper()
	cs, err := c.Releases.Campaigns(context.Background(), portal.Session{UserID: "admin", Role: portal.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, cp := range cs {
		for _, d := range cp.Devices {
			if d.Device == dev {
				m[cp.Version] = d.State + "/" + d.Detail
			}
		}
	}
	return m
}
