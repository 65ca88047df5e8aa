package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/browsertest"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/stack"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/telemetry/store"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEndToEndPortal runs the all-in-one stack (the code path of
// "go run ./examples/bpmonitor") and drives the admin portal in headless
// Chromium: a clinician opens a patient who shared with her and sees the
// chart of what the simulated monitor sent; the patient creates and revokes
// a share; the admin finds those accesses in the audit log with a verified
// hash chain, then is logged off after the idle timeout. Meanwhile every
// MQTT message on the broker ("#") and the readings store are scanned for
// the patients' PHI.
func TestEndToEndPortal(t *testing.T) {
	testenv.ChromiumBin(t) // skip (or fail in CI) before starting anything
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mqttMu sync.Mutex
	var mqttPayloads [][]byte
	var topics []string
	var storyOut lockedBuffer
	o := defaultOptions()
	o.State = t.TempDir()
	o.Listen = "127.0.0.1:0"
	o.Devices = 2
	o.Interval = 400 * time.Millisecond
	o.IdleTimeout = 8 * time.Second
	o.passwordIterations = 10_000
	o.history = 16
	o.onCloud = func(c *stack.Cloud) error {
		return c.Broker.Tap("#", func(topic string, payload []byte) {
			mqttMu.Lock()
			defer mqttMu.Unlock()
			topics = append(topics, topic)
			mqttPayloads = append(mqttPayloads, bytes.Clone(payload))
		})
	}
	lc := &lifecycle{}
	r, err := startAll(ctx, o, story.New(&storyOut, nil), os.Stderr, lc)
	if err != nil {
		t.Fatalf("start: %v\nstory:\n%s", err, storyOut.String())
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer scancel()
		if err := lc.shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	pw := map[string]string{}
	for _, a := range r.cloud.Accounts {
		pw[a.UserID] = a.Password
	}
	for _, p := range r.demo.Patients {
		pw[p.User] = p.Password
	}
	alex := r.demo.PatientID(0)

	// Wait until the monitor's cuff history is stored.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := r.cloud.Store.ByPatient(ctx, alex, store.Range{From: time.Now().Add(-30 * 24 * time.Hour), To: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) >= o.history {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d readings stored\nstory:\n%s", len(rows), storyOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	b := browsertest.New(t)
	const step = 15 * time.Second
	login := func(user, purpose string) {
		b.Step("login " + user)
		b.Do(step,
			chromedp.Navigate(r.url+"/login"),
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), pw[user]),
			chromedp.SetValue(chromedp.ID("purpose"), purpose),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.ID("user")),
		)
	}
	signOut := func() {
		b.Step("sign out")
		b.Do(step, chromedp.Click(chromedp.CSS("#logout-form button")), chromedp.WaitVisible(chromedp.ID("login-form")))
	}

	// 1. The clinician opens the patient and sees the chart.
	login("dr.lee", "TREAT")
	b.Step("open patient")
	b.Do(step,
		chromedp.WaitVisible(chromedp.ID("patients")),
		chromedp.Click(chromedp.CSS(`a.patient-link[href="/patients/`+alex.String()+`"]`)),
		chromedp.WaitVisible(chromedp.ID("bp-chart")),
	)
	name := browsertest.Run(b, step, chromedp.Text(chromedp.ID("patient-name")))
	if name != "Alex Rivermoor" {
		t.Fatalf("patient page shows %q", name)
	}
	pts := browsertest.Run(b, step, chromedp.AttributeValue(chromedp.ID("bp-chart"), "data-points"))
	if n, _ := strconv.Atoi(pts.Value); n < o.history-2 {
		t.Fatalf("chart shows %s readings, want the cuff history (%d) and more", pts.Value, o.history)
	}
	rows := browsertest.Run(b, step, chromedp.Nodes(chromedp.CSSAll("#readings tbody tr")))
	if len(rows) < o.history-2 {
		t.Fatalf("readings table has %d rows", len(rows))
	}
	signOut()

	// 2. The patient shares with a family member, then revokes it.
	login("alex", "PATRQT")
	b.Step("create share")
	b.Do(step,
		chromedp.WaitVisible(chromedp.ID("share-form")),
		chromedp.SendKeys(chromedp.ID("share-grantee"), "jordan"),
		chromedp.SetValue(chromedp.ID("share-role"), "caregiver"),
		chromedp.Click(chromedp.ID("share-submit")),
		chromedp.WaitVisible(chromedp.CSS(`tr.share[data-grantee="jordan"][data-active="true"]`)),
	)
	b.Step("revoke share")
	b.Do(step,
		chromedp.Click(chromedp.CSS(`tr.share[data-grantee="jordan"][data-active="true"] button.revoke`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.share[data-grantee="jordan"][data-active="false"]`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	signOut()

	// 3. The admin sees those accesses in the audit log, chain verified.
	login("admin", "HSYSADMIN")
	b.Step("audit log")
	b.Do(step, chromedp.Navigate(r.url+"/audit"), chromedp.WaitVisible(chromedp.ID("audit")))
	chain := browsertest.Run(b, step, chromedp.AttributeValue(chromedp.ID("chain-status"), "data-ok"))
	if chain.Value != "true" {
		t.Fatalf("audit chain status %q", chain.Value)
	}
	audit := browsertest.Run(b, step, chromedp.OuterHTML(chromedp.ID("audit")))
	for _, want := range []string{
		`data-action="read" data-outcome="success"><td>`, "<td>dr.lee</td>", "<code>" + alex.String() + "</code>",
		`data-action="grant" data-outcome="success"`, `data-action="revoke" data-outcome="success"`, "<td>alex</td>",
	} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}

	// 4. Idle timeout: the page signs itself out.
	b.Step("idle logoff")
	b.Do(o.IdleTimeout+step, chromedp.WaitVisible(chromedp.ID("login-message")))
	msg := browsertest.Run(b, step, chromedp.Text(chromedp.ID("login-message")))
	if !strings.Contains(msg, "inactivity") {
		t.Fatalf("after the idle timeout: %q", msg)
	}

	// 5. No PHI on the telemetry path: broker traffic and readings store.
	var markers []string
	for _, p := range r.demo.Patients {
		markers = append(markers, p.Markers...)
	}
	mqttMu.Lock()
	n := len(mqttPayloads)
	for i, p := range mqttPayloads {
		for _, m := range markers {
			if bytes.Contains(p, []byte(m)) || strings.Contains(topics[i], m) {
				t.Errorf("PHI marker %q in an MQTT message on %s", m, topics[i])
			}
		}
	}
	mqttMu.Unlock()
	if n < o.history {
		t.Fatalf("saw only %d MQTT messages on #", n)
	}
	all, err := r.cloud.Store.ByPatient(ctx, alex, store.Range{From: time.Now().Add(-30 * 24 * time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range all {
		for _, m := range markers {
			if bytes.Contains(row.Data, []byte(m)) {
				t.Errorf("PHI marker %q in a stored reading", m)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(r.state, "readings.db*"))
	if len(files) == 0 {
		t.Fatal("no readings database file to scan")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markers {
			if bytes.Contains(raw, []byte(m)) {
				t.Errorf("PHI marker %q in %s", m, filepath.Base(f))
			}
		}
	}
	for _, m := range markers {
		if strings.Contains(storyOut.String(), m) {
			t.Errorf("PHI marker %q in the story output", m)
		}
	}
}
