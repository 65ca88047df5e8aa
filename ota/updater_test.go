package ota

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// device is a simulated device in a temp directory.
type device struct {
	t       testing.TB
	dir     string
	f       *fixture
	boot    *FileBootloader
	counter *FileCounterStore
	trust   *FileTrustStore
	journal *FileJournal
	oldImg  []byte
	health  func(context.Context, *Manifest) error
}

// newDevice creates a device running oldImg (security version 1, manifest
// version 1) from slot A, in dir (a fresh temp dir when empty).
func newDevice(t testing.TB, f *fixture, dir string) *device {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	d := &device{t: t, dir: dir, f: f,
		boot:    NewFileBootloader(filepath.Join(dir, "bootenv.json"), 3),
		counter: NewFileCounterStore(filepath.Join(dir, "counter")),
		trust:   NewFileTrustStore(filepath.Join(dir, "trusted.json")),
		journal: NewFileJournal(filepath.Join(dir, "journal.json")),
		oldImg:  testImage(200_000, 0x11),
		health:  func(context.Context, *Manifest) error { return nil },
	}
	return d
}

// provision writes the factory state.
func (d *device) provision() {
	d.t.Helper()
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(d.dir, "slot-a.img"), d.oldImg, 0o600); err != nil {
		d.t.Fatal(err)
	}
	if err := d.trust.Save(ctx, TrustedState{Root: d.f.rootBytes, ManifestVersion: 1}); err != nil {
		d.t.Fatal(err)
	}
	if err := d.counter.Advance(ctx, 1); err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.boot.Boot(); err != nil {
		d.t.Fatal(err)
	}
}

func (d *device) updater(mod func(*UpdaterConfig)) *Updater {
	d.t.Helper()
	cfg := UpdaterConfig{
		Verifier:    Config{HardwareID: testHW, Now: func() time.Time { return t0 }},
		Slots:       FileSlots{Dir: d.dir},
		Bootloader:  d.boot,
		Trust:       d.trust,
		Counter:     d.counter,
		Journal:     d.journal,
		HealthCheck: func(ctx context.Context, m *Manifest) error { return d.health(ctx, m) },
		// Small checkpoints so a download has several journal steps.
		CheckpointBytes: 64 << 10,
	}
	if mod != nil {
		mod(&cfg)
	}
	u, err := NewUpdater(cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	return u
}

func (d *device) slotDigest(s SlotID, n int64) string {
	b, err := os.ReadFile(filepath.Join(d.dir, "slot-"+string(s)+".img"))
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[:n]
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (d *device) counterValue() uint64 {
	v, err := d.counter.Load(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return v
}

// bytesSource serves an image from memory.
type bytesSource struct {
	img     []byte
	opens   []int64
	failAt  int64 // if > 0, fail reading at this absolute offset
	trailer []byte
}

func (s *bytesSource) Open(ctx context.Context, m *Manifest, off int64) (io.ReadCloser, error) {
	s.opens = append(s.opens, off)
	var r io.Reader = bytes.NewReader(append(bytes.Clone(s.img[off:]), s.trailer...))
	if s.failAt > 0 {
		r = io.MultiReader(io.LimitReader(r, s.failAt-off), errReader{})
	}
	return io.NopCloser(r), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// newRelease returns a signed manifest (manifest version 2, security
// version 2) for a fresh image.
func newRelease(f *fixture) ([]byte, []byte, *Manifest) {
	img := testImage(700_000, 0x22)
	m := manifestFor(img)
	m.ManifestVersion, m.SecurityVersion = 2, 2
	return f.sign(m), img, m
}

func TestUpdaterInstallTrialCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, m := newRelease(f)
	u := d.updater(nil)
	st, err := u.Install(context.Background(), nil, signed, &bytesSource{img: img})
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateInstalled || !st.RebootRequired || st.Target != SlotB {
		t.Fatalf("status %+v", st)
	}
	if d.counterValue() != 1 {
		t.Fatal("counter advanced before commit")
	}
	if slot, _ := d.boot.Boot(); slot != SlotB {
		t.Fatalf("booted %s", slot)
	}
	st, err = d.updater(nil).Resume(context.Background())
	if err != nil || st.State != StateCommitted {
		t.Fatalf("resume: %+v %v", st, err)
	}
	if d.counterValue() != 2 {
		t.Fatalf("counter %d after commit", d.counterValue())
	}
	if p, _ := d.boot.Primary(context.Background()); p != SlotB {
		t.Fatalf("primary %s", p)
	}
	if d.slotDigest(SlotB, m.Length) != m.SHA256 {
		t.Fatal("slot B is not the release")
	}
	// A second run is a no-op; the same release is not reinstalled over itself.
	if st, err := d.updater(nil).Resume(context.Background()); err != nil || st.State != StateCommitted {
		t.Fatalf("resume again: %+v %v", st, err)
	}
}

func TestUpdaterHealthCheckFailureRollsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, _ := newRelease(f)
	if _, err := d.updater(nil).Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	d.boot.Boot()
	d.health = func(context.Context, *Manifest) error { return errors.New("cuff pressure sensor not responding") }
	st, err := d.updater(nil).Resume(context.Background())
	if err != nil || st.State != StateRolledBack || !errors.Is(st.Reason, ErrHealthCheck) || !st.RebootRequired {
		t.Fatalf("status %+v %v", st, err)
	}
	if d.counterValue() != 1 {
		t.Fatal("counter advanced on a rolled-back update")
	}
	if slot, _ := d.boot.Boot(); slot != SlotA {
		t.Fatalf("booted %s after rollback", slot)
	}
	if st, _ := d.updater(nil).Resume(context.Background()); st.RebootRequired {
		t.Fatalf("status %+v", st)
	}
}

func TestUpdaterBootAttemptLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.boot = NewFileBootloader(filepath.Join(d.dir, "bootenv.json"), 10)
	d.provision()
	signed, img, _ := newRelease(f)
	if _, err := d.updater(nil).Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	// The new image hangs in its health check and is power-cycled each time.
	d.health = func(ctx context.Context, _ *Manifest) error { <-ctx.Done(); return ctx.Err() }
	var st Status
	for i := range 4 {
		if slot, _ := d.boot.Boot(); slot != SlotB {
			t.Fatalf("boot %d: %s", i, slot)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		st, _ = d.updater(nil).Resume(ctx)
		cancel()
	}
	if st.State != StateRolledBack || !errors.Is(st.Reason, ErrBootAttempts) {
		t.Fatalf("status %+v", st)
	}
	if slot, _ := d.boot.Boot(); slot != SlotA || d.counterValue() != 1 {
		t.Fatalf("booted %s counter %d", slot, d.counterValue())
	}
}

func TestUpdaterBootloaderFallbackRollsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, _ := newRelease(f)
	if _, err := d.updater(nil).Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	// The new image crashes before the agent runs: the bootloader spends
	// its attempts and falls back; the agent retries the trial, then gives up.
	var st Status
	for range 12 {
		if slot, _ := d.boot.Boot(); slot == SlotB {
			continue
		}
		var err error
		if st, err = d.updater(nil).Resume(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st.State == StateRolledBack {
			break
		}
	}
	if st.State != StateRolledBack || !errors.Is(st.Reason, ErrBootAttempts) || d.counterValue() != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestTOCTOUSlotTamperedAfterVerification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, _ := newRelease(f)
	if _, err := d.updater(nil).Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	// Someone rewrites the verified slot before the trial boot.
	p := filepath.Join(d.dir, "slot-b.img")
	b, _ := os.ReadFile(p)
	b[1234] ^= 0xFF
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d.boot.Boot()
	st, err := d.updater(nil).Resume(context.Background())
	if err != nil || st.State != StateRolledBack || !errors.Is(st.Reason, ErrImageDigest) {
		t.Fatalf("status %+v %v", st, err)
	}
	if d.counterValue() != 1 {
		t.Fatal("counter advanced")
	}
}

func TestTOCTOUImageReplacedAfterVerification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, m := newRelease(f)
	src := &bytesSource{img: bytes.Clone(img)}
	if _, err := d.updater(nil).Install(context.Background(), nil, signed, src); err != nil {
		t.Fatal(err)
	}
	// The download source changes after verification: what was verified is
	// what is in the slot, and the slot is what boots.
	for i := range src.img {
		src.img[i] = 0x66
	}
	d.boot.Boot()
	if st, err := d.updater(nil).Resume(context.Background()); err != nil || st.State != StateCommitted {
		t.Fatalf("status %+v %v", st, err)
	}
	if d.slotDigest(SlotB, m.Length) != m.SHA256 || len(src.opens) != 1 {
		t.Fatalf("slot digest or source opened %d times", len(src.opens))
	}
}

func TestMaliciousMirrorWrongBytes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	for name, src := range map[string]*bytesSource{
		"other image":  {img: testImage(700_000, 0x99)},
		"endless data": {img: testImage(700_000, 0x22), trailer: make([]byte, 1<<20)},
		"short":        {img: testImage(600_000, 0x22)},
	} {
		d := newDevice(t, f, "")
		d.provision()
		signed, _, _ := newRelease(f)
		st, err := d.updater(nil).Install(context.Background(), nil, signed, src)
		if !errors.Is(err, ErrImageDigest) && !errors.Is(err, ErrImageTooLong) && !errors.Is(err, ErrImageTruncated) {
			t.Fatalf("%s: %v", name, err)
		}
		if st.State == StateInstalled || d.counterValue() != 1 {
			t.Fatalf("%s: status %+v", name, st)
		}
		if e, _ := d.boot.load(); e.Trial != "" {
			t.Fatalf("%s: bootloader told to try an unverified slot", name)
		}
		if slot, _ := d.boot.Boot(); slot != SlotA {
			t.Fatalf("%s: booted %s", name, slot)
		}
	}
}

func TestUpdaterRejectsBeforeDownload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	img := testImage(1000, 1)
	m := manifestFor(img)
	m.SecurityVersion = 0 // below the counter
	src := &bytesSource{img: img}
	if _, err := d.updater(nil).Install(context.Background(), nil, f.sign(m), src); !errors.Is(err, ErrSecurityRollback) {
		t.Fatalf("err = %v", err)
	}
	if len(src.opens) != 0 {
		t.Fatal("image fetched for a rejected manifest")
	}
}

func TestUpdaterDownloadResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, _ := newRelease(f)
	src := &bytesSource{img: img, failAt: 300_000}
	st, err := d.updater(nil).Install(context.Background(), nil, signed, src)
	if err == nil || st.State != StateDownloading {
		t.Fatalf("status %+v %v", st, err)
	}
	src.failAt = 0
	st, err = d.updater(nil).Install(context.Background(), nil, signed, src)
	if err != nil || st.State != StateInstalled {
		t.Fatalf("status %+v %v", st, err)
	}
	if len(src.opens) != 2 || src.opens[1] == 0 || src.opens[1] > 300_000 || src.opens[1]%(64<<10) != 0 {
		t.Fatalf("opens at %v", src.opens)
	}
}

func TestUpdaterRefusesSecondInstallDuringTrial(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, _ := newRelease(f)
	u := d.updater(nil)
	if _, err := u.Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Install(context.Background(), nil, signed, &bytesSource{img: img}); !errors.Is(err, ErrUpdateInProgress) {
		t.Fatalf("err = %v", err)
	}
}

func TestJournalHoldsLargestManifest(t *testing.T) {
	t.Parallel()
	j := NewFileJournal(filepath.Join(t.TempDir(), "journal.json"))
	big := &JournalEntry{State: StateInstalled, Target: SlotB, Previous: SlotA, Manifest: bytes.Repeat([]byte("x"), MaxManifestBytes), Written: 1 << 40, Tries: 3, Boots: 3, Reason: "ota: aborted"}
	if err := j.Save(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	got, err := j.Load(context.Background())
	if err != nil || !bytes.Equal(got.Manifest, big.Manifest) {
		t.Fatalf("load: %v", err)
	}
}

func TestUpdaterAbortBeforeTrial(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, _ := newRelease(f)
	u := d.updater(nil)
	if _, err := u.Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	st, err := u.Abort(context.Background())
	if err != nil || st.State != StateRolledBack || st.RebootRequired {
		t.Fatalf("status %+v %v", st, err)
	}
	if slot, _ := d.boot.Boot(); slot != SlotA || d.counterValue() != 1 {
		t.Fatalf("booted %s", slot)
	}
	// Once the trial runs, Abort refuses.
	if _, err := u.Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	d.boot.Boot()
	d.health = func(ctx context.Context, _ *Manifest) error {
		if _, err := u.Abort(ctx); !errors.Is(err, ErrUpdateInProgress) {
			t.Errorf("abort during trial: %v", err)
		}
		return nil
	}
	if st, err := u.Resume(context.Background()); err != nil || st.State != StateCommitted {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestRuleLabelsSurviveRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, 1, 1, 1)
	d := newDevice(t, f, "")
	d.provision()
	signed, img, _ := newRelease(f)
	if _, err := d.updater(nil).Install(context.Background(), nil, signed, &bytesSource{img: img}); err != nil {
		t.Fatal(err)
	}
	d.boot.Boot()
	d.health = func(context.Context, *Manifest) error { return errors.New("sensor") }
	if st, _ := d.updater(nil).Resume(context.Background()); st.Rule != "health-check" {
		t.Fatalf("rule %q", st.Rule)
	}
	d.boot.Boot()
	if st, _ := d.updater(nil).Resume(context.Background()); st.State != StateRolledBack || st.Rule != "health-check" {
		t.Fatalf("after restart: %+v", st)
	}
	if Rule(fmt.Errorf("x: %w", ErrSignatureThreshold)) != "signature" || Rule(errors.New("other")) != "ota" {
		t.Fatal("Rule")
	}
}
