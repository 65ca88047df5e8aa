package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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

	mu        sync.Mutex
	campaigns []*campaign
	firmware  map[iomt.DeviceID]string
}

type campaign struct {
	name, version string
	permille      int
	c             *release.Campaign
}

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
	return r, nil
}

// Handler serves /ota/ (manifests and images; Range requests for resume).
func (r *Releases) Handler() http.Handler {
	return http.StripPrefix("/ota/", http.FileServer(http.Dir(filepath.Join(r.dir, "files"))))
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

// Publish signs r's manifest over a generated image, stores both under
// /ota/, opens its campaign and returns the campaign name and manifest URL.
func (r *Releases) Publish(ctx context.Context, rel Release) (string, string, error) {
	image := make([]byte, 256<<10)
	if _, err := rand.Read(image); err != nil {
		return "", "", err
	}
	copy(image, fmt.Sprintf("bpm-firmware %s for %s\n", rel.Version, monitor.HardwareID))
	sum := sha256.Sum256(image)
	name := "bpm-firmware-" + rel.Version
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
		ManifestVersion: rel.ManifestVersion, Timeout: 10 * time.Minute})
	if err != nil {
		return "", "", err
	}
	r.mu.Lock()
	r.campaigns = append(r.campaigns, &campaign{name: cname, version: rel.Version, permille: rel.Permille, c: c})
	r.mu.Unlock()
	how := ""
	if rel.Tamper {
		how = " (the mirror serves a tampered image)"
	}
	r.story.Tell("release", "signed firmware %s (manifest v%d, security v%d) for %d%% of the fleet%s", rel.Version, rel.ManifestVersion, rel.SecurityVersion, rel.Permille/10, how)
	return cname, r.baseURL + "/ota/" + name + ".manifest.json", nil
}

// Offer reports whether device is in campaign's cohort, and records the offer.
func (r *Releases) Offer(campaignName string, device iomt.DeviceID) (bool, error) {
	c := r.find(campaignName)
	if c == nil {
		return false, fmt.Errorf("unknown campaign")
	}
	return c.c.Offer(device)
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

// HandleStatus takes a status report from iomt/v1/{device}/ota/status.
func (r *Releases) HandleStatus(topic string, payload []byte) {
	rep, err := release.ParseStatusReport(topic, payload)
	if err != nil {
		return
	}
	r.mu.Lock()
	if rep.Version != "" {
		r.firmware[rep.Device] = rep.Version
	}
	r.mu.Unlock()
	if c := r.find(rep.Campaign); c != nil {
		_ = c.c.Apply(rep)
	}
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
