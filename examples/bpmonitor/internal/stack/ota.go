package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/monitor"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/ota"
	"github.com/openiomt/sdk/ota/release"
	"github.com/openiomt/sdk/provisioning"
)

// Releases is the release side of OTA: the maker's root and targets keys,
// signed manifests and images served from the cloud's HTTPS origin under
// /ota/, and one campaign per release fed by the devices' status reports.
type Releases struct {
	dir        string
	rootKey    *ota.PrivateKey
	targetsKey *ota.PrivateKey
	// SignedRoot is the trust root the factory installs on devices.
	SignedRoot []byte
	baseURL    string
	story      *story.Printer

	// store keeps every campaign's per-device status in dir/campaigns, so
	// a restarted cloud still knows how far each rollout got.
	store *release.FileStore

	mu        sync.Mutex
	campaigns []*campaign
	firmware  map[iomt.DeviceID]string
}

type campaign struct {
	name, version string
	permille      int
	c             *release.Campaign
}

// campaignTimeout is how long a device may stay silent mid-update before
// the portal shows it timed out.
const campaignTimeout = 10 * time.Minute

func loadOrCreateOTAKey(path string) (*ota.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return ota.ParsePrivateKey(b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := ota.GenerateKey(ota.AlgEdDSA, rand.Reader)
	if err != nil {
		return nil, err
	}
	jwk, err := k.MarshalPrivateJWK()
	if err != nil {
		return nil, err
	}
	return k, provisioning.WriteFileAtomic(path, jwk, 0o600)
}

// OpenReleases loads or creates the release keys and root in dir.
func OpenReleases(dir, baseURL string, st *story.Printer) (*Releases, error) {
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o700); err != nil {
		return nil, err
	}
	r := &Releases{dir: dir, baseURL: baseURL, story: st, firmware: map[iomt.DeviceID]string{}}
	var err error
	if r.rootKey, err = loadOrCreateOTAKey(filepath.Join(dir, "root.jwk")); err != nil {
		return nil, err
	}
	if r.targetsKey, err = loadOrCreateOTAKey(filepath.Join(dir, "targets.jwk")); err != nil {
		return nil, err
	}
	rootPath := filepath.Join(dir, "root.json")
	if r.SignedRoot, err = os.ReadFile(rootPath); errors.Is(err, os.ErrNotExist) {
		root := &ota.Root{Version: 1, Expires: time.Now().AddDate(1, 0, 0)}
		root.Roles.Root = ota.Role{KeyIDs: []string{root.AddKey(r.rootKey.Public())}, Threshold: 1}
		root.Roles.Targets = ota.Role{KeyIDs: []string{root.AddKey(r.targetsKey.Public())}, Threshold: 1}
		if r.SignedRoot, err = ota.SignRoot(rand.Reader, root, []*ota.PrivateKey{r.rootKey}); err != nil {
			return nil, err
		}
		err = provisioning.WriteFileAtomic(rootPath, r.SignedRoot, 0o644)
	}
	if err != nil {
		return nil, err
	}
	if err := r.restoreCampaigns(); err != nil {
		return nil, err
	}
	return r, nil
}

// restoreCampaigns loads every stored campaign. A file that does not load
// (torn, corrupt) has been quarantined by the store; the story says so and
// the cloud carries on with the others.
func (r *Releases) restoreCampaigns() error {
	var err error
	if r.store, err = release.NewFileStore(release.FileStoreConfig{Dir: filepath.Join(r.dir, "campaigns")}); err != nil {
		return err
	}
	ctx := context.Background()
	names, err := r.store.List(ctx)
	if err != nil {
		return err
	}
	latest := map[iomt.DeviceID]time.Time{}
	for _, n := range names {
		rec, err := r.store.Load(ctx, n)
		var fe *release.CampaignFileError
		if errors.As(err, &fe) {
			r.story.Tell("release", "campaign %s not restored: %v", n, fe.Err)
			continue
		}
		if err != nil {
			return err
		}
		c, err := release.RestoreRecord(rec, nil)
		if err != nil {
			return err
		}
		r.campaigns = append(r.campaigns, &campaign{name: n, version: rec.Version, permille: rec.Permille, c: c})
		for _, d := range rec.Devices {
			if d.Version != "" && d.Reported.After(latest[d.Device]) {
				latest[d.Device], r.firmware[d.Device] = d.Reported, d.Version
			}
		}
	}
	slices.SortStableFunc(r.campaigns, func(a, b *campaign) int { return a.c.Config().Opened.Compare(b.c.Config().Opened) })
	if len(r.campaigns) > 0 {
		r.story.Tell("release", "restored %d update campaigns with each device's status", len(r.campaigns))
	}
	return nil
}

// save persists c after a change; the store ignores snapshots older than
// the one on disk, so concurrent handlers need no ordering.
func (r *Releases) save(c *campaign) error {
	return r.store.Save(context.Background(), c.c.Record())
}

// OffersPath is where a device asks, with its client certificate, which
// releases it is offered.
const OffersPath = "/ota/offers"

// Handler serves /ota/: the device's offers at OffersPath, and manifests and
// images (Range requests for resume).
func (r *Releases) Handler() http.Handler {
	files := http.StripPrefix("/ota/", http.FileServer(http.Dir(filepath.Join(r.dir, "files"))))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == OffersPath {
			r.serveOffers(w, req)
			return
		}
		files.ServeHTTP(w, req)
	})
}

// serveOffers answers a device (identified by its verified client
// certificate) with the open campaigns whose cohort it is in and where it
// has not yet reached a final state, oldest first. Each answer is recorded
// as an offer in the campaign (and persisted).
func (r *Releases) serveOffers(w http.ResponseWriter, req *http.Request) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		http.Error(w, "client certificate required", http.StatusUnauthorized)
		return
	}
	dev, err := provisioning.DeviceIDFromCertificate(req.TLS.PeerCertificates[0])
	if err != nil {
		http.Error(w, "not a device certificate", http.StatusForbidden)
		return
	}
	r.mu.Lock()
	cs := slices.Clone(r.campaigns)
	r.mu.Unlock()
	out := monitor.Offers{Offers: []monitor.Offer{}}
	for _, c := range cs {
		ok, err := c.c.Offer(dev)
		if err != nil || !ok {
			continue
		}
		if err := r.save(c); err != nil {
			http.Error(w, "campaign store unavailable", http.StatusServiceUnavailable)
			return
		}
		if deviceFinal(c.c, dev) {
			continue
		}
		out.Offers = append(out.Offers, monitor.Offer{Campaign: c.name, ManifestURL: r.manifestURL(c.version)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

func deviceFinal(c *release.Campaign, dev iomt.DeviceID) bool {
	for _, d := range c.Snapshot() {
		if d.Device == dev {
			return d.State == ota.StateCommitted || d.State == ota.StateRolledBack || d.State == release.StateRejected
		}
	}
	return false
}

func fileName(version string) string { return "bpm-firmware-" + version }

// manifestURL is where this cloud serves version's manifest (computed, not
// stored, so a cloud restarted on another address still offers it).
func (r *Releases) manifestURL(version string) string {
	return r.baseURL + "/ota/" + fileName(version) + ".manifest.json"
}

// Release describes a release to publish.
type Release struct {
	Version         string
	ManifestVersion uint64
	SecurityVersion uint64
	// Permille of the fleet in the campaign's cohort.
	Permille int
	// Tamper serves an image whose bytes differ from the signed digest (a
	// malicious mirror or corrupted CDN), to show devices refusing it.
	Tamper bool
}

// DemoReleases are the releases the example publishes: 1.1.0 installs and
// commits; 1.1.1 comes from a tampered mirror and 1.0.5 is a downgrade below
// the anti-rollback counter, and both are refused.
func DemoReleases() []Release {
	return []Release{
		{Version: "1.1.0", ManifestVersion: 2, SecurityVersion: 2, Permille: 1000},
		{Version: "1.1.1", ManifestVersion: 3, SecurityVersion: 2, Permille: 1000, Tamper: true},
		{Version: "1.0.5", ManifestVersion: 4, SecurityVersion: 1, Permille: 1000},
	}
}

// PublishDemo publishes DemoReleases (those not yet published).
func (r *Releases) PublishDemo(ctx context.Context) error {
	for _, rel := range DemoReleases() {
		if _, _, err := r.Publish(ctx, rel); err != nil {
			return err
		}
	}
	return nil
}

// Publish signs r's manifest over a generated image, stores both under
// /ota/, opens its campaign and returns the campaign name and manifest URL.
// A release whose version and manifest version a stored campaign already
// has is not published again (its campaign is returned), so a restarted
// cloud keeps its campaigns.
func (r *Releases) Publish(ctx context.Context, rel Release) (string, string, error) {
	r.mu.Lock()
	for _, c := range r.campaigns {
		if cfg := c.c.Config(); cfg.Version == rel.Version && cfg.ManifestVersion == rel.ManifestVersion {
			r.mu.Unlock()
			return c.name, r.manifestURL(c.version), nil
		}
	}
	r.mu.Unlock()
	image := make([]byte, 256<<10)
	if _, err := rand.Read(image); err != nil {
		return "", "", err
	}
	copy(image, fmt.Sprintf("bpm-firmware %s for %s\n", rel.Version, monitor.HardwareID))
	sum := sha256.Sum256(image)
	name := fileName(rel.Version)
	signed, err := ota.SignManifest(rand.Reader, &ota.Manifest{
		ManifestVersion: rel.ManifestVersion, Expires: time.Now().AddDate(0, 1, 0), Name: "bpm-firmware",
		Version: rel.Version, SecurityVersion: rel.SecurityVersion, Hardware: []string{monitor.HardwareID},
		Length: int64(len(image)), SHA256: hex.EncodeToString(sum[:]), URL: r.baseURL + "/ota/" + name + ".img",
	}, []*ota.PrivateKey{r.targetsKey})
	if err != nil {
		return "", "", err
	}
	if rel.Tamper {
		image = bytes.Clone(image)
		image[len(image)/2] ^= 0x01
	}
	files := filepath.Join(r.dir, "files")
	if err := provisioning.WriteFileAtomic(filepath.Join(files, name+".img"), image, 0o644); err != nil {
		return "", "", err
	}
	if err := provisioning.WriteFileAtomic(filepath.Join(files, name+".manifest.json"), signed, 0o644); err != nil {
		return "", "", err
	}
	cname := fmt.Sprintf("%s-bpm-%s", time.Now().Format("2006-01"), rel.Version)
	c, err := release.NewCampaign(release.CampaignConfig{Rollout: release.Rollout{Campaign: cname, Permille: rel.Permille},
		ManifestVersion: rel.ManifestVersion, Timeout: campaignTimeout, Version: rel.Version, ManifestURL: r.manifestURL(rel.Version)})
	if err != nil {
		return "", "", err
	}
	cp := &campaign{name: cname, version: rel.Version, permille: rel.Permille, c: c}
	if err := r.save(cp); err != nil {
		return "", "", err
	}
	r.mu.Lock()
	r.campaigns = append(r.campaigns, cp)
	r.mu.Unlock()
	how := ""
	if rel.Tamper {
		how = " (the mirror serves a tampered image)"
	}
	r.story.Tell("release", "signed firmware %s (manifest v%d, security v%d) for %d%% of the fleet%s", rel.Version, rel.ManifestVersion, rel.SecurityVersion, rel.Permille/10, how)
	return cname, r.manifestURL(rel.Version), nil
}

// Offer reports whether device is in campaign's cohort, and records (and
// persists) the offer.
func (r *Releases) Offer(campaignName string, device iomt.DeviceID) (bool, error) {
	c := r.find(campaignName)
	if c == nil {
		return false, fmt.Errorf("unknown campaign")
	}
	ok, err := c.c.Offer(device)
	if err != nil || !ok {
		return ok, err
	}
	return true, r.save(c)
}

func (r *Releases) find(name string) *campaign {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.campaigns {
		if c.name == name {
			return c
		}
	}
	return nil
}

// HandleStatus takes a status report from iomt/v1/{device}/ota/status (the
// embedded broker's tap). A tap cannot ask the broker to redeliver, so a
// report that could not be saved is told in the story; the campaign keeps
// it in memory and saves it with the next report.
func (r *Releases) HandleStatus(topic string, payload []byte) {
	if err := r.ApplyStatus(topic, payload); err != nil {
		r.story.Tell("release", "could not save an OTA status report (kept in memory, saved with the next one): %v", err)
	}
}

// ApplyStatus folds a status report into its campaign and persists the
// campaign before it returns. It fails only when the report could not be
// stored (the caller should not acknowledge it, so the broker redelivers
// it); malformed, stale or foreign reports are dropped with nil.
func (r *Releases) ApplyStatus(topic string, payload []byte) error {
	rep, err := release.ParseStatusReport(topic, payload)
	if err != nil {
		r.story.Tell("release", "dropped an OTA status report: %v", err)
		return nil
	}
	r.mu.Lock()
	if rep.Version != "" {
		r.firmware[rep.Device] = rep.Version
	}
	r.mu.Unlock()
	c := r.find(rep.Campaign)
	if c == nil {
		r.story.Tell("release", "dropped an OTA status report of monitor %s for an unknown campaign", story.Short(rep.Device))
		return nil
	}
	if err := c.c.Apply(rep); err != nil {
		r.story.Tell("release", "dropped a stale or out-of-order OTA status report of monitor %s", story.Short(rep.Device))
		return nil
	}
	return r.save(c)
}

// Firmware returns the last firmware version a device reported.
func (r *Releases) Firmware(id iomt.DeviceID) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firmware[id]
}

// Campaigns implements portal.Campaigns.
func (r *Releases) Campaigns(_ context.Context, s portal.Session) ([]portal.Campaign, error) {
	if err := staffOnly(s); err != nil {
		return nil, err
	}
	r.mu.Lock()
	cs := slices.Clone(r.campaigns)
	r.mu.Unlock()
	var out []portal.Campaign
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		v := c.c.View()
		pc := portal.Campaign{Name: c.name, Version: c.version, Percent: c.permille / 10}
		for _, d := range v.Devices {
			pc.Devices = append(pc.Devices, portal.CampaignDevice{Device: d.Device, State: string(d.State), Detail: d.Reason, Updated: d.Reported})
		}
		out = append(out, pc)
	}
	return out, nil
}
