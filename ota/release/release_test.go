package release

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/ota"
)

func devices(t *testing.T, n int) []iomt.DeviceID {
	t.Helper()
	out := make([]iomt.DeviceID, n)
	for i := range out {
		id, err := iomt.NewDeviceID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = id
	}
	return out
}

func TestRolloutCohortStableAndMonotonic(t *testing.T) {
	t.Parallel()
	ids := devices(t, 20_000)
	prev := map[iomt.DeviceID]bool{}
	for _, pm := range []int{0, 10, 100, 500, 1000} {
		r := Rollout{Campaign: "bpm-1.4.2", Permille: pm}
		n := 0
		for _, id := range ids {
			in := r.Includes(id)
			if in != r.Includes(id) {
				t.Fatal("unstable")
			}
			if prev[id] && !in {
				t.Fatalf("raising to %d‰ dropped a device", pm)
			}
			if in {
				n++
				prev[id] = true
			}
		}
		want := len(ids) * pm / 1000
		if d := n - want; d > len(ids)/100 || d < -len(ids)/100 {
			t.Fatalf("%d‰: %d of %d devices", pm, n, len(ids))
		}
	}
	// Another campaign picks a different cohort.
	a, b := Rollout{Campaign: "c1", Permille: 100}, Rollout{Campaign: "c2", Permille: 100}
	same := 0
	for _, id := range ids {
		if a.Includes(id) && b.Includes(id) {
			same++
		}
	}
	if same > len(ids)/50 {
		t.Fatalf("%d devices in both 10%% cohorts", same)
	}
	if (Rollout{Campaign: "x", Permille: 1001}).Includes(ids[0]) || (Rollout{Permille: 1000}).Includes(ids[0]) {
		t.Fatal("invalid rollout includes devices")
	}
}

func report(dev iomt.DeviceID, state ota.UpdateState, ts time.Time) string {
	return fmt.Sprintf(`{"v":1,"dev":%q,"campaign":"bpm-1.4.2","manifest_version":7,"state":%q,"version":"1.4.2","ts":%q}`,
		dev.String(), state, ts.Format(time.RFC3339Nano))
}

func TestImpersonationStatusReportTopicMismatch(t *testing.T) {
	t.Parallel()
	ids := devices(t, 2)
	ts := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if _, err := ParseStatusReport(StatusTopic(ids[1]), []byte(report(ids[0], ota.StateCommitted, ts))); !errors.Is(err, ErrTopicMismatch) {
		t.Fatalf("err = %v", err)
	}
	for _, topic := range []string{"iomt/v1/x/ota/status", "iomt/v1/" + ids[0].String() + "/telemetry/bp", "iomt/v1/" + ids[0].String() + "/ota/status/x"} {
		if _, err := ParseStatusReport(topic, []byte(report(ids[0], ota.StateCommitted, ts))); !errors.Is(err, ErrTopicMismatch) {
			t.Fatalf("%s: %v", topic, err)
		}
	}
	if _, err := ParseStatusReport(StatusTopic(ids[0]), []byte(report(ids[0], ota.StateCommitted, ts))); err != nil {
		t.Fatal(err)
	}
}

func TestHostileStatusReports(t *testing.T) {
	t.Parallel()
	id := devices(t, 1)[0]
	ts := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	good := report(id, ota.StateCommitted, ts)
	for name, payload := range map[string]string{
		"phi field":   strings.Replace(good, `"v":1`, `"v":1,"patient_name":"Jane Roe"`, 1),
		"free reason": strings.Replace(good, `"version"`, `"reason":"Jane Roe's device","version"`, 1),
		"bad state":   strings.Replace(good, `"committed"`, `"pwned"`, 1),
		"version 2":   strings.Replace(good, `"v":1`, `"v":2`, 1),
		"trailing":    good + `{}`,
		"not json":    `{`,
		"no time":     strings.Replace(good, `"ts"`, `"tz"`, 1),
	} {
		if _, err := ParseStatusReport(StatusTopic(id), []byte(payload)); !errors.Is(err, ErrMalformedReport) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseStatusReport(StatusTopic(id), []byte(strings.Repeat(" ", MaxStatusReportBytes+1))); !errors.Is(err, ErrReportTooLarge) {
		t.Errorf("oversize: %v", err)
	}
}

func TestReplayStaleStatusReportIgnored(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	c, err := NewCampaign(CampaignConfig{Rollout: Rollout{Campaign: "bpm-1.4.2", Permille: 1000}, ManifestVersion: 7,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	id := devices(t, 1)[0]
	if ok, err := c.Offer(id); !ok || err != nil {
		t.Fatal(ok, err)
	}
	apply := func(state ota.UpdateState, ts time.Time) error {
		r, err := ParseStatusReport(StatusTopic(id), []byte(report(id, state, ts)))
		if err != nil {
			t.Fatal(err)
		}
		return c.Apply(r)
	}
	if err := apply(ota.StateRolledBack, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An attacker replays the earlier "committed"-looking progress report.
	if err := apply(ota.StateTrial, now.Add(time.Minute)); !errors.Is(err, ErrStaleReport) {
		t.Fatalf("err = %v", err)
	}
	if err := apply(ota.StateRolledBack, now.Add(2*time.Minute)); !errors.Is(err, ErrStaleReport) {
		t.Fatalf("duplicate: %v", err)
	}
	if v := c.View(); v.Failed != 1 || v.Counts[ota.StateRolledBack] != 1 {
		t.Fatalf("view %+v", v)
	}
	other := devices(t, 1)[0]
	r, _ := ParseStatusReport(StatusTopic(other), []byte(report(other, ota.StateCommitted, now)))
	if err := c.Apply(r); !errors.Is(err, ErrNotInCohort) {
		t.Fatalf("uninvited device: %v", err)
	}
	r, _ = ParseStatusReport(StatusTopic(id), []byte(strings.Replace(report(id, ota.StateCommitted, now.Add(time.Hour)), `"manifest_version":7`, `"manifest_version":6`, 1)))
	if err := c.Apply(r); !errors.Is(err, ErrWrongCampaign) {
		t.Fatalf("other campaign: %v", err)
	}
}

func TestCampaignTimeoutForSilentDevices(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	c, err := NewCampaign(CampaignConfig{Rollout: Rollout{Campaign: "bpm-1.4.2", Permille: 1000}, ManifestVersion: 7,
		Timeout: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ids := devices(t, 4)
	for _, id := range ids {
		c.Offer(id)
	}
	for i, st := range []ota.UpdateState{ota.StateCommitted, StateRejected, ota.StateDownloading} {
		r, _ := ParseStatusReport(StatusTopic(ids[i]), []byte(report(ids[i], st, now.Add(10*time.Minute))))
		if err := c.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	v := c.View()
	if v.Offered != 4 || v.Succeeded != 1 || v.Failed != 1 || v.InProgress != 2 || v.TimedOut != 0 {
		t.Fatalf("view %+v", v)
	}
	now = now.Add(65 * time.Minute) // ids[3] silent since offer; ids[2] reported 55 min ago
	v = c.View()
	if v.TimedOut != 1 || v.InProgress != 1 || v.Counts[StateTimedOut] != 1 {
		t.Fatalf("view %+v", v)
	}
	now = now.Add(10 * time.Minute)
	if v = c.View(); v.TimedOut != 2 || v.Succeeded != 1 {
		t.Fatalf("view %+v", v)
	}
	// Snapshot and restore keep the state.
	c2, err := RestoreCampaign(CampaignConfig{Rollout: Rollout{Campaign: "bpm-1.4.2", Permille: 1000}, ManifestVersion: 7,
		Timeout: time.Hour, Now: func() time.Time { return now }}, c.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if v2 := c2.View(); v2.TimedOut != 2 || v2.Succeeded != 1 || v2.Failed != 1 {
		t.Fatalf("restored view %+v", v2)
	}
}

func TestNewStatusReportFromUpdaterStatus(t *testing.T) {
	t.Parallel()
	id := devices(t, 1)[0]
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	m := &ota.Manifest{Version: "1.4.2"}
	r, err := NewStatusReport(id, "bpm-1.4.2", 7, ota.Status{State: ota.StateCommitted, Manifest: m}, nil, now)
	if err != nil || r.State != ota.StateCommitted || r.Version != "1.4.2" || r.Reason != "" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = NewStatusReport(id, "bpm-1.4.2", 7, ota.Status{State: ota.StateRolledBack, Rule: "health-check",
		Reason: errors.New("ota: health check failed: cuff sensor")}, nil, now)
	if err != nil || r.Reason != "health-check" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = NewStatusReport(id, "bpm-1.4.2", 7, ota.Status{}, fmt.Errorf("wrapped: %w", ota.ErrImageDigest), now)
	if err != nil || r.State != StateRejected || r.Reason != "image-digest" {
		t.Fatalf("%+v %v", r, err)
	}
	// The report round-trips through the topic parser.
	b, _ := json.Marshal(r)
	if _, err := ParseStatusReport(StatusTopic(id), b); err != nil {
		t.Fatal(err)
	}
}
