package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openiomt/sdk/iomt/ble"
	"github.com/openiomt/sdk/ota"
	"github.com/openiomt/sdk/ota/release"
	"github.com/openiomt/sdk/provisioning"
)

// HardwareID is the simulated monitor's hardware revision.
const HardwareID = "bpm-rev-c"

// FactoryFirmware is the version the monitors leave the factory with.
const FactoryFirmware = "1.0.0"

// maxManifestBytes bounds a fetched release manifest.
const maxManifestBytes = ota.MaxManifestBytes

// InstallFactoryTrust writes the OTA trust root (signed root document) into
// a new device's directory, as the factory does.
func InstallFactoryTrust(ctx context.Context, dir string, signedRoot []byte) error {
	if err := os.MkdirAll(filepath.Join(dir, "ota", "slots"), 0o700); err != nil {
		return err
	}
	if err := ota.NewFileTrustStore(filepath.Join(dir, "ota", "trusted.json")).Save(ctx, ota.TrustedState{Root: signedRoot}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ota", "version"), []byte(FactoryFirmware), 0o600)
}

// Firmware returns the firmware version the monitor runs.
func (m *Monitor) Firmware() string {
	b, err := os.ReadFile(filepath.Join(m.cfg.Dir, "ota", "version"))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func (m *Monitor) otaPaths() (ota.FileSlots, *ota.FileBootloader) {
	d := filepath.Join(m.cfg.Dir, "ota")
	return ota.FileSlots{Dir: filepath.Join(d, "slots")}, ota.NewFileBootloader(filepath.Join(d, "bootenv.json"), 3)
}

func (m *Monitor) updater(boot *ota.FileBootloader, slots ota.FileSlots) (*ota.Updater, error) {
	d := filepath.Join(m.cfg.Dir, "ota")
	return ota.NewUpdater(ota.UpdaterConfig{
		Verifier:   ota.Config{HardwareID: HardwareID, Now: m.cfg.Now},
		Slots:      slots,
		Bootloader: boot,
		Trust:      ota.NewFileTrustStore(filepath.Join(d, "trusted.json")),
		Counter:    ota.NewFileCounterStore(filepath.Join(d, "counter")),
		Journal:    ota.NewFileJournal(filepath.Join(d, "journal.json")),
		// The health check exercises the clinical path of the new firmware:
		// a cuff measurement through the 0x2A35 codec must validate.
		HealthCheck: func(context.Context, *ota.Manifest) error {
			bp := m.gen.Next(m.cfg.Now().UTC().Truncate(time.Second))
			b, err := ble.AppendBloodPressure(nil, ble.BloodPressureMeasurement{BloodPressure: bp})
			if err != nil {
				return err
			}
			dec, err := ble.DecodeBloodPressure(b)
			if err != nil {
				return err
			}
			return dec.BloodPressure.Validate()
		},
		Logger: m.cfg.Logger,
	})
}

// Update is offered a release: the manifest is fetched from manifestURL
// over HTTPS (the cloud's roots only), verified, the image streamed into
// the inactive slot through the verifier, the device "reboots" into a trial
// of the new slot, and the health check commits it. The outcome is reported
// on iomt/v1/{device}/ota/status for the campaign. A refused release leaves
// the running firmware untouched; its rule is reported.
func (m *Monitor) Update(ctx context.Context, campaign, manifestURL string) (ota.UpdateState, error) {
	if err := m.connect(); err != nil {
		return "", err
	}
	hc := m.httpClient()
	manifest, err := fetch(ctx, hc, manifestURL, maxManifestBytes)
	if err != nil {
		return "", err
	}
	um, err := ota.ParseManifestUnverified(manifest)
	if err != nil {
		return "", err
	}
	slots, boot := m.otaPaths()
	if _, err := boot.Boot(); err != nil {
		return "", err
	}
	u, err := m.updater(boot, slots)
	if err != nil {
		return "", err
	}
	if _, err := u.Resume(ctx); err != nil {
		return "", err
	}
	src := ota.NewDownloader(ota.DownloaderConfig{Client: hc, MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second})
	st, err := u.Install(ctx, nil, manifest, src)
	if err != nil {
		rule := ota.Rule(err)
		m.cfg.Story.Tell(m.cfg.Name, "refused firmware %s: %s — still running %s", um.Version, rule, m.Firmware())
		m.report(ctx, campaign, um.ManifestVersion, release.StateRejected, rule)
		return release.StateRejected, nil
	}
	m.cfg.Story.Tell(m.cfg.Name, "firmware %s verified (threshold signatures, expiry, hardware, security version, streamed SHA-256) and written to slot %s", um.Version, st.Target)
	m.report(ctx, campaign, um.ManifestVersion, st.State, "")
	if st.RebootRequired {
		slot, err := boot.Boot()
		if err != nil {
			return "", err
		}
		if u, err = m.updater(boot, slots); err != nil {
			return "", err
		}
		m.cfg.Story.Tell(m.cfg.Name, "rebooted into slot %s for a trial boot", slot)
		if st, err = u.Resume(ctx); err != nil {
			return "", err
		}
	}
	if st.State == ota.StateCommitted {
		_ = os.WriteFile(filepath.Join(m.cfg.Dir, "ota", "version"), []byte(um.Version), 0o600)
		c, _ := ota.NewFileCounterStore(filepath.Join(m.cfg.Dir, "ota", "counter")).Load(ctx)
		m.cfg.Story.Tell(m.cfg.Name, "health check passed: firmware %s committed, anti-rollback counter now %d", um.Version, c)
	} else {
		m.cfg.Story.Tell(m.cfg.Name, "update %s ended %s", um.Version, st.State)
	}
	m.report(ctx, campaign, um.ManifestVersion, st.State, "")
	return st.State, nil
}

// report publishes an OTA status report (closed schema, no PHI).
func (m *Monitor) report(ctx context.Context, campaign string, mv uint64, state ota.UpdateState, reason string) {
	r := release.StatusReport{V: 1, Device: m.id.Device, Campaign: campaign, ManifestVersion: mv, State: state,
		Version: m.Firmware(), Reason: reason, Time: m.cfg.Now().UTC()}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	if err := m.pub.PublishEnvelope(ctx, release.StatusTopic(m.id.Device), b); err != nil {
		m.cfg.Logger.Warn("ota status report not queued", "err", err)
	}
}

func fetch(ctx context.Context, hc *http.Client, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("monitor: fetch release: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ota.ErrTooLarge
	}
	return b, nil
}

// OffersPath is the cloud's OTA offer endpoint, relative to the API origin
// the monitor enrolled with.
const OffersPath = "/ota/offers"

// maxOffersBytes bounds the offer list a monitor reads.
const maxOffersBytes = 64 << 10

// Offers is the cloud's answer at OffersPath: the releases offered to the
// asking device, oldest campaign first.
type Offers struct {
	Offers []Offer `json:"offers"`
}

// Offer is one release offered to a device.
type Offer struct {
	Campaign    string `json:"campaign"`
	ManifestURL string `json:"manifest_url"`
}

// CheckForUpdates asks the cloud which releases this monitor is offered
// (over HTTPS with its device certificate, so the cloud knows who asks) and
// runs [Monitor.Update] for each offer it has not tried in this run, in
// order. It returns the outcome per campaign. The all-in-one and the split
// "device" mode both update through here.
func (m *Monitor) CheckForUpdates(ctx context.Context) (map[string]ota.UpdateState, error) {
	m.mu.Lock()
	base := m.id.EnrollmentURL
	if m.cfg.APIURL != "" {
		base = m.cfg.APIURL
	}
	enrolled := len(m.id.Chain) > 0
	m.mu.Unlock()
	if !enrolled || base == "" {
		return nil, ErrNotEnrolled
	}
	hc, err := m.deviceHTTPClient()
	if err != nil {
		return nil, err
	}
	b, err := fetch(ctx, hc, strings.TrimSuffix(base, "/")+OffersPath, maxOffersBytes)
	if err != nil {
		return nil, err
	}
	var offers Offers
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&offers); err != nil {
		return nil, fmt.Errorf("monitor: malformed offer list")
	}
	out := map[string]ota.UpdateState{}
	for _, o := range offers.Offers {
		m.mu.Lock()
		if m.tried == nil {
			m.tried = map[string]bool{}
		}
		done := m.tried[o.Campaign]
		m.tried[o.Campaign] = true
		m.mu.Unlock()
		if done {
			continue
		}
		st, err := m.Update(ctx, o.Campaign, o.ManifestURL)
		if err != nil {
			return out, fmt.Errorf("monitor: update %s: %w", o.Campaign, err)
		}
		out[o.Campaign] = st
	}
	return out, nil
}

// deviceHTTPClient presents the device certificate and trusts only the
// cloud's roots.
func (m *Monitor) deviceHTTPClient() (*http.Client, error) {
	m.mu.Lock()
	t, err := provisioning.DeviceTLSConfig(m.id, m.cfg.ServerRoots, "")
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: t}}, nil
}
