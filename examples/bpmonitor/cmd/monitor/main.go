// Command monitor is the simulated blood-pressure monitor as a device
// binary of its own: what a maker would flash onto the device. It links only
// the SDK's device-side packages (no SQL drivers, no web UI), which keeps it
// small enough for an embedded Linux device:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags='-s -w' ./examples/bpmonitor/cmd/monitor
//
// It runs a device that the factory created and the phone app paired (see
// "bpmonitor cloud" and "bpmonitor device"): it takes a reading every
// --interval, signs it and sends it over mutual-TLS MQTT v5 through its
// durable outbox, until interrupted or --readings are done. Every --ota-poll
// (and at start) it asks the cloud which firmware releases it is offered and
// installs them: verify, inactive slot, trial boot, commit; a tampered
// release or a downgrade is refused and reported.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/monitor"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/sim"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "monitor:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	dir := fs.String("dir", "", "device directory (identity, keys, outbox), written by the factory and paired")
	pki := fs.String("firmware-trust", "", "directory with operator-ca.pem and provisioning.pub.pem (baked into firmware)")
	interval := fs.Duration("interval", 10*time.Second, "time between readings")
	readings := fs.Int("readings", 0, "readings to take before exiting; 0 runs until interrupted")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	otaPoll := fs.Duration("ota-poll", time.Hour, "ask the cloud for offered firmware releases at start and then this often; 0 disables")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *dir == "" || *pki == "" || *interval < 100*time.Millisecond || *readings < 0 || *otaPoll < 0 {
		fs.Usage()
		return fmt.Errorf("%w: --dir and --firmware-trust are required; --interval ≥ 100ms", errUsage)
	}
	roots, prov, err := monitor.LoadFirmwareTrust(*pki)
	if err != nil {
		return err
	}
	st := story.New(os.Stdout, nil)
	if *quiet {
		st = story.New(nil, nil)
	}
	m, err := monitor.Open(ctx, monitor.Config{Dir: *dir, ServerRoots: roots, ProvisioningKey: prov,
		Profile: sim.DemoProfiles()[1], Story: st,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if !m.Enrolled() {
		return errors.New("device is not paired and enrolled yet (run \"bpmonitor device\" once)")
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Close(cctx)
	}()
	checkUpdates := func() {
		if _, err := m.CheckForUpdates(ctx); err != nil && ctx.Err() == nil {
			st.Tell(m.Name(), "update check failed (will retry): %v", err)
		}
	}
	var nextCheck time.Time
	if *otaPoll > 0 {
		checkUpdates()
		nextCheck = time.Now().Add(*otaPoll)
	}
	t := time.NewTicker(*interval)
	defer t.Stop()
	for n := 0; *readings == 0 || n < *readings; n++ {
		if *otaPoll > 0 && time.Now().After(nextCheck) {
			checkUpdates()
			nextCheck = time.Now().Add(*otaPoll)
		}
		bp, seq, err := m.Measure(ctx, time.Now())
		if err != nil {
			return err
		}
		st.Tell(m.Name(), "measured %.0f/%.0f mmHg, pulse %.0f → seq %d queued", bp.Systolic, bp.Diastolic, bp.Pulse, seq)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}
