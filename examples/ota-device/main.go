// Command ota-device is a minimal device update agent: it fetches a signed
// release manifest over HTTPS, verifies it against the root installed at the
// factory, streams the image into the inactive A/B slot through the
// verifier, simulates the reboot into a trial of the new slot and commits it
// after a health check — or refuses the release and leaves the running
// firmware untouched.
//
//	ota-device --state DIR --hardware bpm-rev-c --manifest https://updates.example.com/bpm-1.4.2.manifest.json [--ca ca.pem]
//
// DIR holds the device's OTA state: trusted.json (the signed root and last
// manifest version; seed it with --init-root ROOT.json), counter
// (anti-rollback), bootenv.json (the simulated bootloader), journal.json and
// slots/slot-{a,b}.img. Exit status: 0 committed, 1 refused or failed, 2
// usage.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/openiomt/sdk/ota"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// run is the agent; client, when set, replaces the HTTPS client (tests).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, client *http.Client) int {
	fs := flag.NewFlagSet("ota-device", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "device OTA state directory (required)")
	hw := fs.String("hardware", "", "this device's hardware ID (required)")
	manifestURL := fs.String("manifest", "", "https URL of the signed release manifest (required)")
	initRoot := fs.String("init-root", "", "factory step: install this signed root document as the trust anchor")
	caFile := fs.String("ca", "", "PEM file of the CA that signs the update server's certificate (default: system roots)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *state == "" || *hw == "" || *manifestURL == "" {
		fmt.Fprintln(stderr, "ota-device: --state, --hardware and --manifest are required")
		return 2
	}
	if err := agent(ctx, *state, *hw, *manifestURL, *initRoot, *caFile, client, stdout); err != nil {
		fmt.Fprintln(stderr, "ota-device:", err)
		return 1
	}
	return 0
}

func agent(ctx context.Context, dir, hw, manifestURL, initRoot, caFile string, client *http.Client, out io.Writer) error {
	if err := os.MkdirAll(filepath.Join(dir, "slots"), 0o700); err != nil {
		return err
	}
	trust := ota.NewFileTrustStore(filepath.Join(dir, "trusted.json"))
	if initRoot != "" {
		root, err := os.ReadFile(initRoot)
		if err != nil {
			return err
		}
		if err := trust.Save(ctx, ota.TrustedState{Root: root}); err != nil {
			return err
		}
	}
	if client == nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return err
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return errors.New("--ca holds no certificate")
			}
		}
		client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	manifest, err := fetch(ctx, client, manifestURL)
	if err != nil {
		return err
	}
	boot := ota.NewFileBootloader(filepath.Join(dir, "bootenv.json"), 3)
	if _, err := boot.Boot(); err != nil { // power-on
		return err
	}
	newUpdater := func() (*ota.Updater, error) {
		return ota.NewUpdater(ota.UpdaterConfig{
			Verifier:   ota.Config{HardwareID: hw},
			Slots:      ota.FileSlots{Dir: filepath.Join(dir, "slots")},
			Bootloader: boot,
			Trust:      trust,
			Counter:    ota.NewFileCounterStore(filepath.Join(dir, "counter")),
			Journal:    ota.NewFileJournal(filepath.Join(dir, "journal.json")),
			// A real device checks what matters clinically here: sensors,
			// the measurement path, connectivity.
			HealthCheck: func(context.Context, *ota.Manifest) error { return nil },
		})
	}
	u, err := newUpdater()
	if err != nil {
		return err
	}
	if _, err := u.Resume(ctx); err != nil { // finish or revert an interrupted update first
		return err
	}
	dl := ota.NewDownloader(ota.DownloaderConfig{Client: client, Progress: func(done, total int64) {}})
	st, err := u.Install(ctx, nil, manifest, dl)
	if err != nil {
		return fmt.Errorf("release refused (%s): %w", ota.Rule(err), err)
	}
	fmt.Fprintf(out, "verified %s %s, written to slot %s\n", st.Manifest.Name, st.Manifest.Version, st.Target)
	if st.RebootRequired {
		slot, err := boot.Boot() // the reboot: the bootloader tries the new slot
		if err != nil {
			return err
		}
		if u, err = newUpdater(); err != nil {
			return err
		}
		if st, err = u.Resume(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "trial boot from slot %s: %s\n", slot, st.State)
	}
	if st.State != ota.StateCommitted {
		return fmt.Errorf("update ended %s", st.State)
	}
	c, _ := ota.NewFileCounterStore(filepath.Join(dir, "counter")).Load(ctx)
	fmt.Fprintf(out, "committed; anti-rollback counter %d\n", c)
	return nil
}

func fetch(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("manifest: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, ota.MaxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > ota.MaxManifestBytes {
		return nil, fmt.Errorf("manifest: %w", ota.ErrTooLarge)
	}
	return b, nil
}
