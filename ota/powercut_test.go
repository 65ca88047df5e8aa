//go:build unix

package ota

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The power-cut test re-executes the test binary as the device's update
// agent, one process per power cycle, and SIGKILLs it at the Nth persisted
// step across the whole update (download checkpoints, every journal state,
// trust save, bootloader try/confirm, counter advance), for every N.

const (
	envPowerCutDir  = "OTA_POWERCUT_DIR"
	envPowerCutKill = "OTA_POWERCUT_KILL_AT"
)

// TestPowerCutChild is one power cycle of the device; it only runs as the
// child of TestPowerCutAtEveryJournalStep.
func TestPowerCutChild(t *testing.T) {
	dir := os.Getenv(envPowerCutDir)
	if dir == "" {
		t.Skip("child process of TestPowerCutAtEveryJournalStep")
	}
	killAt, _ := strconv.Atoi(os.Getenv(envPowerCutKill))
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(filepath.Join(dir, "image.bin"))
	if err != nil {
		t.Fatal(err)
	}
	expect, err := os.ReadFile(filepath.Join(dir, "expect"))
	if err != nil {
		t.Fatal(err)
	}
	trace, err := os.OpenFile(filepath.Join(dir, "trace"), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := os.ReadFile(filepath.Join(dir, "trace"))
	points := bytes.Count(prev, []byte("\n"))

	d := newDevice(t, nil, dir)
	// Power on: the bootloader picks a slot, which must hold a verified image.
	slot, err := d.boot.Boot()
	if err != nil {
		t.Fatal(err)
	}
	okDigests := strings.Fields(string(expect)) // "len:sha256" of old and new
	verified := false
	for _, e := range okDigests {
		n, sum, _ := strings.Cut(e, ":")
		l, _ := strconv.ParseInt(n, 10, 64)
		if d.slotDigest(slot, l) == sum {
			verified = true
		}
	}
	if !verified {
		t.Fatalf("booted slot %s holds an unverified image", slot)
	}
	u := d.updater(func(c *UpdaterConfig) {
		c.CheckpointBytes = 256 << 10
		c.crash = func(p string) {
			points++
			trace.WriteString(p + "\n")
			if points == killAt {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	})
	ctx := context.Background()
	st, err := u.Resume(ctx)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	ts, err := d.trust.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State == StateDownloading || (st.State == StateIdle && ts.ManifestVersion < 2) {
		if _, err := u.Install(ctx, nil, manifest, &bytesSource{img: img}); err != nil {
			t.Fatalf("install: %v", err)
		}
	}
}

func TestPowerCutAtEveryJournalStep(t *testing.T) {
	if os.Getenv(envPowerCutDir) != "" {
		t.Skip("in child")
	}
	if testing.Short() {
		t.Skip("spawns many processes")
	}
	f := newFixture(t, 1, 1, 1, 1)
	signed, img, m := newRelease(f)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	step := 1
	if raceEnabled {
		step = 3 // the race detector makes every child slow; sample the steps
	}
	for killAt := 1; ; killAt += step {
		dir := t.TempDir()
		d := newDevice(t, f, dir)
		d.provision()
		oldM := manifestFor(d.oldImg)
		for name, b := range map[string][]byte{
			"manifest.json": signed, "image.bin": img,
			"expect": []byte(strconv.Itoa(len(d.oldImg)) + ":" + oldM.SHA256 + " " + strconv.FormatInt(m.Length, 10) + ":" + m.SHA256),
		} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		killed := false
		done := false
		for life := 0; life < 12 && !done; life++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := exec.CommandContext(ctx, exe, "-test.run=^TestPowerCutChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envPowerCutDir+"="+dir, envPowerCutKill+"="+strconv.Itoa(killAt))
			out, err := cmd.CombinedOutput()
			cancel()
			var ee *exec.ExitError
			switch {
			case err == nil:
			case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
				killed = true
			default:
				t.Fatalf("kill at %d, life %d: %v\n%s", killAt, life, err, out)
			}
			// Invariant: the counter moves only with a confirmed new slot.
			j, _ := d.journal.Load(context.Background())
			primary, _ := d.boot.Primary(context.Background())
			c := d.counterValue()
			if c != 1 && !(c == 2 && primary == SlotB && j != nil && (j.State == StateCommitting || j.State == StateCommitted)) {
				t.Fatalf("kill at %d, life %d: counter %d, primary %s, journal %+v", killAt, life, c, primary, j)
			}
			if j != nil && j.State == StateRolledBack {
				t.Fatalf("kill at %d, life %d: rolled back: %s", killAt, life, j.Reason)
			}
			done = err == nil && j != nil && j.State == StateCommitted
		}
		if !done {
			t.Fatalf("kill at %d: update never committed", killAt)
		}
		if c := d.counterValue(); c != 2 || d.slotDigest(SlotB, m.Length) != m.SHA256 {
			t.Fatalf("kill at %d: counter %d", killAt, c)
		}
		if !killed {
			trace, _ := os.ReadFile(filepath.Join(dir, "trace"))
			steps := strings.Fields(string(trace))
			t.Logf("power cut at every %d of %d steps: %s", step, len(steps), strings.Join(steps, " "))
			if len(steps) < 10 {
				t.Fatalf("only %d steps", len(steps))
			}
			return
		}
	}
}
