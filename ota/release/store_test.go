package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/ota"
)

func storeCampaign(t *testing.T, now *time.Time) *Campaign {
	t.Helper()
	c, err := NewCampaign(CampaignConfig{Rollout: Rollout{Campaign: "bpm-1.4.2", Permille: 500}, ManifestVersion: 7,
		Timeout: time.Hour, Version: "1.4.2", ManifestURL: "https://ota.example/bpm-1.4.2.manifest.json",
		Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestStore(t *testing.T, dir string, key []byte) *FileStore {
	t.Helper()
	s, err := NewFileStore(FileStoreConfig{Dir: dir, MACKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// offerAndReport offers the release to ids until n are in the cohort, and
// applies one report per state for the first devices; it persists after
// every change, as a cloud does.
func offerAndReport(t *testing.T, s CampaignStore, c *Campaign, now time.Time, n int, states []ota.UpdateState) []DeviceStatus {
	t.Helper()
	ctx := context.Background()
	var in []DeviceStatus
	for len(in) < n {
		id := devices(t, 1)[0]
		ok, err := c.Offer(id)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			in = append(in, DeviceStatus{Device: id})
			if err := s.Save(ctx, c.Record()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, st := range states {
		r, err := ParseStatusReport(StatusTopic(in[i].Device), []byte(report(in[i].Device, st, now.Add(time.Duration(i+1)*time.Minute))))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(r); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, c.Record()); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

func TestFileStoreRestartRestoresDeviceStatusAndRollout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	c := storeCampaign(t, &now)
	s := newTestStore(t, dir, nil)
	in := offerAndReport(t, s, c, now, 4, []ota.UpdateState{ota.StateCommitted, StateRejected, ota.StateTrial})
	before := c.View()

	// "Restart": a new store over the same directory, a new process clock.
	s2 := newTestStore(t, dir, nil)
	names, err := s2.List(context.Background())
	if err != nil || len(names) != 1 || names[0] != "bpm-1.4.2" {
		t.Fatalf("List = %v, %v", names, err)
	}
	rec, err := s2.Load(context.Background(), "bpm-1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := RestoreRecord(rec, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	after := c2.View()
	if got := c2.Config(); got.Rollout.Permille != 500 || got.Version != "1.4.2" || got.ManifestVersion != 7 || got.Timeout != time.Hour ||
		got.ManifestURL != "https://ota.example/bpm-1.4.2.manifest.json" || !got.Opened.Equal(c.Config().Opened) {
		t.Fatalf("restored config %+v", got)
	}
	if after.Offered != 4 || after.Succeeded != 1 || after.Failed != 1 || after.InProgress != 2 || len(after.Devices) != len(before.Devices) {
		t.Fatalf("restored view %+v, before %+v", after, before)
	}
	for i := range before.Devices {
		b, a := before.Devices[i], after.Devices[i]
		if a.Device != b.Device || a.State != b.State || a.Reason != b.Reason || !a.Reported.Equal(b.Reported) || !a.Offered.Equal(b.Offered) {
			t.Fatalf("device %d: %+v, before %+v", i, a, b)
		}
	}
	if c2.Revision() != c.Revision() {
		t.Fatalf("revision %d, want %d", c2.Revision(), c.Revision())
	}
	// The restored campaign keeps its replay protection.
	r, _ := ParseStatusReport(StatusTopic(in[0].Device), []byte(report(in[0].Device, ota.StateCommitted, now.Add(time.Minute))))
	if err := c2.Apply(r); !errors.Is(err, ErrStaleReport) {
		t.Fatalf("replayed report after restart: %v", err)
	}
}

func TestFileStoreOlderSnapshotNeverOverwritesNewer(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	c := storeCampaign(t, &now)
	s := newTestStore(t, t.TempDir(), nil)
	offerAndReport(t, s, c, now, 2, nil)
	old := c.Record()
	offerAndReport(t, s, c, now, 1, nil)
	if err := s.Save(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(context.Background(), "bpm-1.4.2")
	if err != nil || len(rec.Devices) != 3 {
		t.Fatalf("after a late old save: %d devices, %v", len(rec.Devices), err)
	}
}

func TestFileStoreConcurrentSaves(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	c := storeCampaign(t, &now)
	s := newTestStore(t, t.TempDir(), nil)
	ids := devices(t, 64)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Offer(id); err != nil {
				t.Error(err)
			}
			if err := s.Save(context.Background(), c.Record()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rec, err := s.Load(context.Background(), "bpm-1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(c.Snapshot()); len(rec.Devices) != want || rec.Revision != c.Revision() {
		t.Fatalf("stored %d devices rev %d, campaign has %d rev %d", len(rec.Devices), rec.Revision, want, c.Revision())
	}
}

func TestFileStoreTornFileQuarantined(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	s := newTestStore(t, dir, nil)
	offerAndReport(t, s, storeCampaign(t, &now), now, 3, []ota.UpdateState{ota.StateCommitted})
	path := filepath.Join(dir, "bpm-1.4.2.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"torn":       b[:len(b)/2],
		"empty":      nil,
		"bit flip":   flip(b, bytes.Index(b, []byte(`"revision":`))+len(`"revision":`)),
		"trailing":   append(bytes.Clone(b), `{}`...),
		"not json":   []byte("\x00\xff garbage"),
		"wrong v":    bytes.Replace(b, []byte(`"v":1`), []byte(`"v":2`), 1),
		"unknown":    bytes.Replace(b, []byte(`"v":1`), []byte(`"v":1,"x":0`), 1),
		"bad record": mustEncodeRaw(t, []byte(`{"campaign":"bpm-1.4.2","permille":5000}`)),
	} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		s := newTestStore(t, dir, nil)
		_, err := s.Load(context.Background(), "bpm-1.4.2")
		var fe *CampaignFileError
		if !errors.Is(err, ErrCampaignCorrupt) || !errors.As(err, &fe) || fe.Quarantined == "" {
			t.Fatalf("%s: err = %v", name, err)
		}
		if _, err := os.Stat(fe.Quarantined); err != nil {
			t.Fatalf("%s: quarantined file: %v", name, err)
		}
		if names, _ := s.List(context.Background()); len(names) != 0 {
			t.Fatalf("%s: still listed: %v", name, names)
		}
		if _, err := s.Load(context.Background(), "bpm-1.4.2"); !errors.Is(err, ErrCampaignNotFound) {
			t.Fatalf("%s: second load: %v", name, err)
		}
		if strings.Contains(err.Error(), "1.4.2.manifest") {
			t.Fatalf("%s: error leaks content", name)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// mustEncodeRaw wraps body in a valid envelope (correct checksum), to reach
// the record's field rules.
func mustEncodeRaw(t *testing.T, body []byte) []byte {
	t.Helper()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	good, err := EncodeCampaignFile(storeCampaign(t, &now).Record(), nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := decodeEnvelope(good)
	if err != nil {
		t.Fatal(err)
	}
	env.Record = body
	sum := sha256Hex(body)
	env.SHA256 = sum
	return marshalEnvelope(t, env)
}

func decodeEnvelope(b []byte) (*fileEnvelope, error) {
	var env fileEnvelope
	return &env, decodeStrictJSON(b, &env)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func marshalEnvelope(t *testing.T, env *fileEnvelope) []byte {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileStoreOversizeFileQuarantined(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.json"), bytes.Repeat([]byte(" "), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileStore(FileStoreConfig{Dir: dir, MaxFileBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background(), "big"); !errors.Is(err, ErrCampaignTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestTamperCampaignFileWithoutMACKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	s := newTestStore(t, dir, key)
	offerAndReport(t, s, storeCampaign(t, &now), now, 2, []ota.UpdateState{StateRejected})
	path := filepath.Join(dir, "bpm-1.4.2.json")
	b, _ := os.ReadFile(path)
	env, err := decodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	// An attacker with write access turns "rejected" into "committed" and
	// fixes the checksum, but has no MAC key.
	env.Record = bytes.Replace(env.Record, []byte(`"rejected"`), []byte(`"committed"`), 1)
	env.SHA256 = sha256Hex(env.Record)
	forged := marshalEnvelope(t, env)
	for name, bad := range map[string][]byte{"forged": forged, "mac stripped": bytes.Replace(forged, []byte(`"hmac_sha256":"`+env.HMAC+`",`), nil, 1)} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := newTestStore(t, dir, key).Load(context.Background(), "bpm-1.4.2")
		var fe *CampaignFileError
		if !errors.Is(err, ErrCampaignTampered) || !errors.As(err, &fe) || fe.Quarantined == "" {
			t.Fatalf("%s: err = %v", name, err)
		}
	}
	// The same file under another key is refused too.
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newTestStore(t, dir, bytes.Repeat([]byte{8}, 32)).Load(context.Background(), "bpm-1.4.2"); !errors.Is(err, ErrCampaignTampered) {
		t.Fatalf("other key: %v", err)
	}
}

func TestFileStoreRefusesUnstorableNames(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, t.TempDir(), nil)
	for _, n := range []string{"", ".", "..", ".hidden", "a/b", "../x", "a b", strings.Repeat("a", MaxLabelLen+1)} {
		if _, err := s.Load(context.Background(), n); !errors.Is(err, ErrCampaignName) {
			t.Errorf("Load(%q) = %v", n, err)
		}
		rec := &CampaignRecord{Campaign: n}
		if err := s.Save(context.Background(), rec); !errors.Is(err, ErrCampaignName) {
			t.Errorf("Save(%q) = %v", n, err)
		}
	}
	if _, err := s.Load(context.Background(), "absent"); !errors.Is(err, ErrCampaignNotFound) {
		t.Fatalf("absent: %v", err)
	}
	if err := s.Save(context.Background(), nil); !errors.Is(err, ErrCampaignCorrupt) {
		t.Fatalf("nil record: %v", err)
	}
}

// A crash between writing the temporary file and renaming it leaves a
// dot file behind; reopening the store removes it and lists only campaigns.
func TestFileStoreCrashLeftoverTempFileRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leftover := filepath.Join(dir, ".cmp-1.json.tmp123456")
	if err := os.WriteFile(leftover, []byte(`{"torn`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, dir, nil)
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temporary file still there: %v", err)
	}
	names, err := s.List(context.Background())
	if err != nil || len(names) != 0 {
		t.Fatalf("List = %v, %v; want nothing", names, err)
	}
}
