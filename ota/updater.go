package ota

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"
)

// UpdateState is a step of the A/B update state machine. Each is written to
// the journal before the side effects that follow it.
type UpdateState string

// Update states.
const (
	// StateIdle: no update in progress.
	StateIdle UpdateState = "idle"
	// StateDownloading: the manifest verified; image bytes are being
	// written into the inactive slot. Install resumes from the last
	// checkpoint.
	StateDownloading UpdateState = "downloading"
	// StateVerified: the slot's bytes passed the length and digest checks.
	StateVerified UpdateState = "verified"
	// StateInstalled: the bootloader was told to try the new slot; a
	// reboot starts the trial.
	StateInstalled UpdateState = "installed"
	// StateTrial: running from the new slot, health check pending.
	StateTrial UpdateState = "trial"
	// StateCommitting: the health check passed; confirming the slot,
	// then advancing the anti-rollback counter.
	StateCommitting UpdateState = "committing"
	// StateCommitted: the new slot is primary and the counter advanced.
	StateCommitted UpdateState = "committed"
	// StateRolledBack: the update was abandoned; the previous slot is
	// primary and the counter did not move.
	StateRolledBack UpdateState = "rolled-back"
)

// ErrUpdateInProgress: Install was called while another update awaits its
// trial boot or commit.
var ErrUpdateInProgress = errors.New("ota: update in progress")

// ErrHealthCheck: the health check failed during the trial boot; the update
// was rolled back. It wraps the callback's error.
var ErrHealthCheck = errors.New("ota: health check failed")

// ErrBootAttempts: the new slot was booted (or tried) more often than
// [UpdaterConfig.MaxBootAttempts] without a commit; the update was rolled back.
var ErrBootAttempts = errors.New("ota: boot-attempt limit reached")

// errAborted is the rollback reason of [Updater.Abort].
var errAborted = errors.New("ota: aborted")

// ImageSource supplies image bytes; [Downloader] is the HTTPS one.
type ImageSource interface {
	// Open returns the image from byte offset to its end.
	Open(ctx context.Context, m *Manifest, offset int64) (io.ReadCloser, error)
}

// UpdaterConfig configures an [Updater]. Slots, Bootloader, Trust, Counter,
// Journal and HealthCheck are required; the others have documented zero
// values. The Updater keeps its own copy.
type UpdaterConfig struct {
	// Verifier configures verification (HardwareID is required).
	Verifier Config
	// Slots and Bootloader are the device's A/B storage and boot control.
	Slots      Slots
	Bootloader Bootloader
	// Trust holds the trusted root and manifest version; Counter the
	// anti-rollback counter.
	Trust   TrustStore
	Counter CounterStore
	// Journal persists the update state; [NewFileJournal] writes a file
	// atomically.
	Journal Journal
	// HealthCheck runs on the trial boot of a new slot; nil error commits
	// the update. It should exercise what matters clinically (sensors,
	// measurement path, connectivity) and return within its context.
	HealthCheck func(ctx context.Context, m *Manifest) error
	// MaxBootAttempts bounds trial boots (and bootloader try requests) of
	// a new slot before rolling back. Zero means 3.
	MaxBootAttempts int
	// CheckpointBytes is how often (in image bytes) a download is synced
	// and journaled, bounding re-download after a power cut. Zero means
	// 4 MiB.
	CheckpointBytes int64
	// Logger receives state transitions (no PHI, no key material). Nil
	// discards.
	Logger *slog.Logger

	// crash is a test hook called at every persisted step.
	crash func(point string)
}

// Status reports the update state after [Updater.Resume] or [Updater.Install].
type Status struct {
	State UpdateState
	// Target is the slot being updated (empty when idle).
	Target SlotID
	// Manifest is the release being installed (nil when idle).
	Manifest *Manifest
	// RebootRequired: reboot now (to start the trial, or to leave a
	// rolled-back slot).
	RebootRequired bool
	// Reason is why the last update was rolled back (nil otherwise); after
	// a restart it carries the recorded message only, so use Rule to branch.
	Reason error
	// Rule labels Reason (see [Rule]): "health-check", "boot-attempts",
	// "image-digest", …; empty when there is no reason.
	Rule string
}

// Updater installs verified releases into the inactive slot and commits
// them after a healthy trial boot. Call [Updater.Resume] at every start of
// the update agent, before anything else; call [Updater.Install] for a new
// release. An Updater is not safe for concurrent use; run one per device.
type Updater struct {
	cfg UpdaterConfig
	log *slog.Logger
}

// NewUpdater validates cfg and returns an Updater.
func NewUpdater(cfg UpdaterConfig) (*Updater, error) {
	switch {
	case cfg.Slots == nil:
		return nil, &FieldError{Doc: "config", Field: "Slots"}
	case cfg.Bootloader == nil:
		return nil, &FieldError{Doc: "config", Field: "Bootloader"}
	case cfg.Trust == nil:
		return nil, &FieldError{Doc: "config", Field: "Trust"}
	case cfg.Counter == nil:
		return nil, &FieldError{Doc: "config", Field: "Counter"}
	case cfg.Journal == nil:
		return nil, &FieldError{Doc: "config", Field: "Journal"}
	case cfg.HealthCheck == nil:
		return nil, &FieldError{Doc: "config", Field: "HealthCheck"}
	case !validLabel(cfg.Verifier.HardwareID):
		return nil, &FieldError{Doc: "config", Field: "Verifier.HardwareID"}
	}
	if cfg.MaxBootAttempts <= 0 {
		cfg.MaxBootAttempts = 3
	}
	if cfg.CheckpointBytes <= 0 {
		cfg.CheckpointBytes = 4 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Updater{cfg: cfg, log: log}, nil
}

func (u *Updater) point(p string) {
	if u.cfg.crash != nil {
		u.cfg.crash(p)
	}
}

func (u *Updater) save(ctx context.Context, j *JournalEntry) error {
	if err := u.cfg.Journal.Save(ctx, j); err != nil {
		return err
	}
	u.log.LogAttrs(ctx, slog.LevelInfo, "ota: update state", slog.String("state", string(j.State)),
		slog.String("slot", string(j.Target)), slog.Int64("written", j.Written))
	u.point("journal:" + string(j.State))
	return nil
}

func (u *Updater) load(ctx context.Context) (*JournalEntry, error) {
	j, err := u.cfg.Journal.Load(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return &JournalEntry{State: StateIdle}, nil
	}
	return j, err
}

// verifier builds a Verifier from the stored trust state and counter.
func (u *Updater) verifier(ctx context.Context) (*Verifier, error) {
	st, err := u.cfg.Trust.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("ota: trusted state: %w", err)
	}
	c, err := u.cfg.Counter.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("ota: counter: %w", err)
	}
	return NewVerifier(u.cfg.Verifier, st, c)
}

// verifySlot re-runs the whole verification against the slot's bytes.
func (u *Updater) verifySlot(ctx context.Context, j *JournalEntry) (*Result, error) {
	v, err := u.verifier(ctx)
	if err != nil {
		return nil, err
	}
	m, err := v.VerifyManifest(j.Manifest)
	if err != nil {
		return nil, err
	}
	f, err := u.cfg.Slots.OpenSlot(ctx, j.Target)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := v.VerifyImage(io.NewSectionReader(f, 0, m.Length), nil); err != nil {
		return nil, err
	}
	return v.Result()
}

func (u *Updater) status(j *JournalEntry) Status {
	s := Status{State: j.State, Target: j.Target}
	if len(j.Manifest) > 0 {
		s.Manifest, _ = ParseManifestUnverified(j.Manifest)
	}
	if j.Reason != "" {
		s.Reason = errors.New(j.Reason)
	}
	s.Rule = j.Rule
	return s
}

// Install verifies roots (newer root documents, oldest first) and manifest
// against the trusted state, downloads the image from src into the
// inactive slot (resuming an interrupted download of the same manifest),
// verifies the slot's own bytes, persists the new trusted state, and asks
// the bootloader to try the slot. On success the Status says
// RebootRequired: the trial begins at the next boot, and [Updater.Resume]
// then runs the health check. A rejected release leaves the running slot,
// the trusted state and the counter untouched.
func (u *Updater) Install(ctx context.Context, roots [][]byte, manifest []byte, src ImageSource) (Status, error) {
	j, err := u.load(ctx)
	if err != nil {
		return Status{}, err
	}
	switch j.State {
	case StateIdle, StateCommitted, StateRolledBack, StateDownloading:
	default:
		return u.status(j), ErrUpdateInProgress
	}
	booted, err := u.cfg.Bootloader.Booted(ctx)
	if err != nil {
		return Status{}, err
	}
	primary, err := u.cfg.Bootloader.Primary(ctx)
	if err != nil {
		return Status{}, err
	}
	if booted != primary {
		return u.status(j), fmt.Errorf("%w: running a slot that is not committed", ErrUpdateInProgress)
	}
	v, err := u.verifier(ctx)
	if err != nil {
		return Status{}, err
	}
	for _, r := range roots {
		if rr, perr := ParseRoot(r); perr == nil && rr.Version <= v.Root().Version {
			continue
		}
		if err := v.UpdateRoot(r); err != nil {
			return Status{}, err
		}
	}
	m, err := v.VerifyManifest(manifest)
	if err != nil {
		return Status{}, err
	}
	target := booted.Other()
	resume := j.State == StateDownloading && j.Target == target && bytes.Equal(j.Manifest, manifest)
	if !resume {
		j = &JournalEntry{State: StateDownloading, Target: target, Previous: booted, Manifest: bytes.Clone(manifest)}
		if err := u.save(ctx, j); err != nil {
			return Status{}, err
		}
	}
	if err := u.download(ctx, j, m, src); err != nil {
		return u.status(j), err
	}
	// Verify what you install: the slot's bytes, not the download stream.
	f, err := u.cfg.Slots.OpenSlot(ctx, target)
	if err != nil {
		return Status{}, err
	}
	err = v.VerifyImage(io.NewSectionReader(f, 0, m.Length), nil)
	f.Close()
	if err != nil {
		// The slot holds rejected bytes; start over next time.
		j = &JournalEntry{State: StateIdle, Reason: err.Error(), Rule: Rule(err)}
		if serr := u.save(ctx, j); serr != nil {
			return Status{}, serr
		}
		return u.status(j), err
	}
	res, err := v.Result()
	if err != nil {
		return Status{}, err
	}
	if err := u.cfg.Trust.Save(ctx, res.State); err != nil {
		return Status{}, err
	}
	u.point("trust-saved")
	j.State = StateVerified
	if err := u.save(ctx, j); err != nil {
		return Status{}, err
	}
	return u.install(ctx, j)
}

// download copies the image into the target slot from j.Written on,
// syncing and journaling every CheckpointBytes.
func (u *Updater) download(ctx context.Context, j *JournalEntry, m *Manifest, src ImageSource) error {
	if j.Written > m.Length || j.Written < 0 {
		j.Written = 0
	}
	f, err := u.cfg.Slots.OpenSlot(ctx, j.Target)
	if err != nil {
		return err
	}
	defer f.Close()
	if j.Written == m.Length {
		return nil
	}
	rc, err := src.Open(ctx, m, j.Written)
	if err != nil {
		return err
	}
	defer rc.Close()
	// One byte more than remains reveals a source that does not stop.
	r := io.LimitReader(rc, m.Length-j.Written+1)
	buf := make([]byte, verifyBufSize)
	off, lastCkpt := j.Written, j.Written
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if off+int64(n) > m.Length {
				return &ImageError{Err: ErrImageTooLong, Read: off + int64(n), Length: m.Length}
			}
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return fmt.Errorf("ota: write slot: %w", err)
			}
			off += int64(n)
			u.point("slot-write")
			if off-lastCkpt >= u.cfg.CheckpointBytes && off < m.Length {
				if err := f.Sync(); err != nil {
					return fmt.Errorf("ota: sync slot: %w", err)
				}
				j.Written, lastCkpt = off, off
				if err := u.save(ctx, j); err != nil {
					return err
				}
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("ota: read image: %w", rerr)
		}
	}
	if off < m.Length {
		return &ImageError{Err: ErrImageTruncated, Read: off, Length: m.Length}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ota: sync slot: %w", err)
	}
	j.Written = off
	return nil
}

// install asks the bootloader to try the verified slot.
func (u *Updater) install(ctx context.Context, j *JournalEntry) (Status, error) {
	if j.Tries >= u.cfg.MaxBootAttempts {
		return u.rollback(ctx, j, ErrBootAttempts)
	}
	j.State = StateInstalled
	j.Tries++
	if err := u.save(ctx, j); err != nil {
		return Status{}, err
	}
	if err := u.cfg.Bootloader.Try(ctx, j.Target); err != nil {
		return Status{}, err
	}
	u.point("bootloader-try")
	s := u.status(j)
	s.RebootRequired = true
	return s, nil
}

// Resume brings the update state machine forward after any (re)start,
// including one after a power cut at any step:
//
//   - downloading: nothing runs from the partial slot; call Install again
//     with the same manifest to resume, or a newer one to start over.
//   - verified: the slot is re-verified and the bootloader asked to try it.
//   - installed/trial, booted from the new slot: the boot-attempt limit is
//     checked, the slot re-verified, then the health check runs; success
//     commits (bootloader confirm, then counter advance), failure rolls back.
//   - installed/trial, booted from the old slot: the trial boot failed or
//     never happened; it is retried up to MaxBootAttempts, then rolled back.
//   - committing: the commit is finished (every step is idempotent).
//   - rolled-back: the previous slot is made primary again.
//
// The health check's error is wrapped in [ErrHealthCheck] in Status.Reason.
func (u *Updater) Resume(ctx context.Context) (Status, error) {
	j, err := u.load(ctx)
	if err != nil {
		return Status{}, err
	}
	booted, err := u.cfg.Bootloader.Booted(ctx)
	if err != nil {
		return Status{}, err
	}
	switch j.State {
	case StateIdle, StateCommitted, StateDownloading:
		return u.status(j), nil
	case StateRolledBack:
		if err := u.cfg.Bootloader.Confirm(ctx, j.Previous); err != nil {
			return Status{}, err
		}
		s := u.status(j)
		s.RebootRequired = booted != j.Previous
		return s, nil
	case StateVerified:
		if _, err := u.verifySlot(ctx, j); err != nil {
			return u.rollback(ctx, j, err)
		}
		return u.install(ctx, j)
	case StateCommitting:
		return u.commit(ctx, j)
	case StateInstalled, StateTrial:
		if booted != j.Target {
			return u.install(ctx, j) // retries Try, bounded by MaxBootAttempts
		}
		j.State = StateTrial
		j.Boots++
		if err := u.save(ctx, j); err != nil {
			return Status{}, err
		}
		if j.Boots > u.cfg.MaxBootAttempts {
			return u.rollback(ctx, j, ErrBootAttempts)
		}
		if _, err := u.verifySlot(ctx, j); err != nil {
			return u.rollback(ctx, j, err)
		}
		m, _ := ParseManifestUnverified(j.Manifest)
		if err := u.cfg.HealthCheck(ctx, m); err != nil {
			if ctx.Err() != nil {
				return u.status(j), ctx.Err() // interrupted, not unhealthy
			}
			return u.rollback(ctx, j, fmt.Errorf("%w: %w", ErrHealthCheck, err))
		}
		j.State = StateCommitting
		if err := u.save(ctx, j); err != nil {
			return Status{}, err
		}
		return u.commit(ctx, j)
	}
	return Status{}, &FieldError{Doc: "journal", Field: "state"}
}

// commit confirms the slot, then advances the counter: never the other
// way round, so the fallback slot stays bootable until the commit is
// certain (MCUboot PR 2282 advanced the counter before confirm).
func (u *Updater) commit(ctx context.Context, j *JournalEntry) (Status, error) {
	m, err := ParseManifestUnverified(j.Manifest)
	if err != nil {
		return Status{}, err
	}
	if err := u.cfg.Bootloader.Confirm(ctx, j.Target); err != nil {
		return Status{}, err
	}
	u.point("bootloader-confirm")
	if err := u.cfg.Counter.Advance(ctx, m.SecurityVersion); err != nil && !errors.Is(err, ErrCounterDecrease) {
		return Status{}, err
	}
	u.point("counter-advanced")
	j.State = StateCommitted
	j.Reason, j.Rule = "", ""
	if err := u.save(ctx, j); err != nil {
		return Status{}, err
	}
	return u.status(j), nil
}

// rollback abandons the update: the previous slot becomes primary again.
func (u *Updater) rollback(ctx context.Context, j *JournalEntry, reason error) (Status, error) {
	j.State = StateRolledBack
	j.Reason, j.Rule = reason.Error(), Rule(reason)
	if err := u.save(ctx, j); err != nil {
		return Status{}, err
	}
	if err := u.cfg.Bootloader.Confirm(ctx, j.Previous); err != nil {
		return Status{}, err
	}
	u.point("bootloader-revert")
	booted, err := u.cfg.Bootloader.Booted(ctx)
	if err != nil {
		return Status{}, err
	}
	s := u.status(j)
	s.Reason = reason
	s.RebootRequired = booted != j.Previous
	return s, nil
}

// Abort abandons an update that has not reached its trial boot (states
// downloading, verified, installed); it fails with ErrUpdateInProgress once
// a trial is running or committing.
func (u *Updater) Abort(ctx context.Context) (Status, error) {
	j, err := u.load(ctx)
	if err != nil {
		return Status{}, err
	}
	switch j.State {
	case StateDownloading:
		j = &JournalEntry{State: StateIdle, Reason: "ota: aborted", Rule: "aborted"}
		if err := u.save(ctx, j); err != nil {
			return Status{}, err
		}
		return u.status(j), nil
	case StateVerified, StateInstalled:
		return u.rollback(ctx, j, errAborted)
	case StateTrial, StateCommitting:
		return u.status(j), ErrUpdateInProgress
	}
	return u.status(j), nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
