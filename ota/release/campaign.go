package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/ota"
)

// Named limits.
const (
	// MaxStatusReportBytes bounds one status report message.
	MaxStatusReportBytes = 2048
	// MaxLabelLen bounds campaign IDs, versions and reason labels.
	MaxLabelLen = 128
	// MaxCampaignDevices bounds the devices one Campaign tracks.
	MaxCampaignDevices = 1 << 20
)

// Errors returned by this package.
var (
	// ErrMalformedReport: a status report is not valid JSON, has unknown
	// fields or a field fails its rule.
	ErrMalformedReport = errors.New("release: malformed status report")
	// ErrReportTooLarge: a status report exceeds MaxStatusReportBytes.
	ErrReportTooLarge = errors.New("release: status report too large")
	// ErrTopicMismatch: the topic is not iomt/v1/{device}/ota/status or
	// names another device than the payload.
	ErrTopicMismatch = errors.New("release: topic does not match report device")
	// ErrWrongCampaign: the report belongs to another campaign.
	ErrWrongCampaign = errors.New("release: report for another campaign")
	// ErrStaleReport: a report not newer than the last one applied for the
	// device (replayed or reordered); it was ignored.
	ErrStaleReport = errors.New("release: stale or replayed status report")
	// ErrTooManyDevices: the campaign already tracks MaxCampaignDevices.
	ErrTooManyDevices = errors.New("release: campaign device limit reached")
	// ErrNotInCohort: the report comes from a device the campaign never
	// offered the release to.
	ErrNotInCohort = errors.New("release: device not in campaign cohort")
)

// StateRejected is reported by a device that refused the release before
// installing it (a verification failure); Reason names the rule.
const StateRejected ota.UpdateState = "rejected"

// StateTimedOut is the derived state of a device that did not report a
// final state within the campaign's Timeout.
const StateTimedOut ota.UpdateState = "timed-out"

// StatusReport is the payload devices publish on
// iomt/v1/{device}/ota/status (JSON, closed schema, no PHI):
//
//	{"v":1,"dev":"<uuid>","campaign":"2026-06-bpm-1.4.2","manifest_version":7,
//	 "state":"committed","version":"1.4.2","reason":"image-digest","ts":"2026-06-01T12:00:00Z"}
type StatusReport struct {
	V               int             `json:"v"`
	Device          iomt.DeviceID   `json:"dev"`
	Campaign        string          `json:"campaign"`
	ManifestVersion uint64          `json:"manifest_version"`
	State           ota.UpdateState `json:"state"`
	// Version is the firmware version now running.
	Version string `json:"version,omitempty"`
	// Reason is a rule label (e.g. "health-check", "image-digest"), never
	// free text.
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"ts"`
}

var reportStates = []ota.UpdateState{ota.StateIdle, ota.StateDownloading, ota.StateVerified, ota.StateInstalled,
	ota.StateTrial, ota.StateCommitting, ota.StateCommitted, ota.StateRolledBack, StateRejected}

func label(s string, optional bool) bool {
	if s == "" {
		return optional
	}
	if len(s) > MaxLabelLen {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-._+", r)) {
			return false
		}
	}
	return true
}

// Validate checks every field rule.
func (r *StatusReport) Validate() error {
	bad := func(f string) error { return fmt.Errorf("%w: field %s", ErrMalformedReport, f) }
	switch {
	case r.V != 1:
		return bad("v")
	case r.Device.IsZero():
		return bad("dev")
	case !label(r.Campaign, false):
		return bad("campaign")
	case !slices.Contains(reportStates, r.State):
		return bad("state")
	case r.Version != "" && !ota.ValidSemver(r.Version):
		return bad("version")
	case !label(r.Reason, true):
		return bad("reason")
	case r.Time.IsZero():
		return bad("ts")
	}
	return nil
}

// StatusTopic returns iomt/v1/{device}/ota/status.
func StatusTopic(device iomt.DeviceID) string { return "iomt/v1/" + device.String() + "/ota/status" }

// ParseStatusReport parses a status report received on topic, enforcing
// MaxStatusReportBytes, the closed schema, and that the topic's device is
// the payload's device.
func ParseStatusReport(topic string, payload []byte) (*StatusReport, error) {
	if len(payload) > MaxStatusReportBytes {
		return nil, ErrReportTooLarge
	}
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "iomt" || parts[1] != "v1" || parts[3] != "ota" || parts[4] != "status" {
		return nil, ErrTopicMismatch
	}
	topicDev, err := iomt.ParseDeviceID(parts[2])
	if err != nil {
		return nil, ErrTopicMismatch
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	var r StatusReport
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: json", ErrMalformedReport)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformedReport)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Device != topicDev {
		return nil, ErrTopicMismatch
	}
	return &r, nil
}

// CampaignConfig configures a [Campaign].
type CampaignConfig struct {
	// Rollout names the campaign and its cohort (required).
	Rollout Rollout
	// ManifestVersion is the release's manifest_version; reports for
	// other manifest versions are rejected with ErrWrongCampaign.
	ManifestVersion uint64
	// Timeout is how long a device may stay without a final state
	// (committed, rolled-back, rejected) after it was offered the release
	// or last reported. Zero means 24 hours.
	Timeout time.Duration
	// Version is the release's firmware version (semver) and ManifestURL
	// where devices fetch its signed manifest. Both are optional and only
	// carried (in [Campaign.Config], [Campaign.Record] and stores); the
	// campaign itself does not use them.
	Version     string
	ManifestURL string
	// Opened is when the campaign opened; zero means Now() at NewCampaign.
	Opened time.Time
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// MaxURLLen bounds CampaignConfig.ManifestURL.
const MaxURLLen = 2048

func validURL(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > MaxURLLen {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// DeviceStatus is one device's state in a campaign.
type DeviceStatus struct {
	Device   iomt.DeviceID   `json:"dev"`
	State    ota.UpdateState `json:"state"`
	Version  string          `json:"version,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Offered  time.Time       `json:"offered"`
	Reported time.Time       `json:"reported,omitzero"`
}

// View is a campaign summary at one instant.
type View struct {
	Campaign string `json:"campaign"`
	// Counts maps states (including "timed-out") to device counts.
	Counts map[ota.UpdateState]int `json:"counts"`
	// Offered is the number of devices offered the release.
	Offered int `json:"offered"`
	// Succeeded, Failed (rolled-back or rejected), TimedOut and InProgress
	// partition Offered.
	Succeeded, Failed, TimedOut, InProgress int
	// Devices lists every device, ordered by device ID, with timed-out
	// devices shown in StateTimedOut.
	Devices []DeviceStatus `json:"devices"`
}

// Campaign tracks one release's rollout. It is safe for concurrent use.
type Campaign struct {
	cfg     CampaignConfig
	mu      sync.Mutex
	devices map[iomt.DeviceID]*DeviceStatus
	// rev counts changes (new offers, applied reports); see Record.
	rev uint64
}

// NewCampaign validates cfg and returns an empty campaign.
func NewCampaign(cfg CampaignConfig) (*Campaign, error) {
	if err := cfg.Rollout.Validate(); err != nil {
		return nil, err
	}
	if cfg.ManifestVersion == 0 {
		return nil, fmt.Errorf("%w: manifest version", ErrRollout)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 24 * time.Hour
	}
	if cfg.Version != "" && !ota.ValidSemver(cfg.Version) {
		return nil, fmt.Errorf("%w: version", ErrRollout)
	}
	if !validURL(cfg.ManifestURL) {
		return nil, fmt.Errorf("%w: manifest URL", ErrRollout)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Opened.IsZero() {
		cfg.Opened = cfg.Now()
	}
	cfg.Opened = cfg.Opened.UTC()
	return &Campaign{cfg: cfg, devices: map[iomt.DeviceID]*DeviceStatus{}}, nil
}

// Offer records that device is offered the release if it is in the
// rollout's cohort, and reports whether it is. Offering a device twice
// keeps its first offer time.
func (c *Campaign) Offer(device iomt.DeviceID) (bool, error) {
	if !c.cfg.Rollout.Includes(device) {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.devices[device]; ok {
		return true, nil
	}
	if len(c.devices) >= MaxCampaignDevices {
		return false, ErrTooManyDevices
	}
	c.devices[device] = &DeviceStatus{Device: device, State: ota.StateIdle, Offered: c.cfg.Now().UTC()}
	c.rev++
	return true, nil
}

func final(s ota.UpdateState) bool {
	return s == ota.StateCommitted || s == ota.StateRolledBack || s == StateRejected
}

// Apply folds a report into the campaign. Reports from devices never
// offered fail with ErrNotInCohort; reports for another campaign or
// manifest version with ErrWrongCampaign; reports not newer than the last
// applied for the device with ErrStaleReport (replays change nothing).
func (c *Campaign) Apply(r *StatusReport) error {
	if r == nil {
		return ErrMalformedReport
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if r.Campaign != c.cfg.Rollout.Campaign || r.ManifestVersion != c.cfg.ManifestVersion {
		return ErrWrongCampaign
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.devices[r.Device]
	if !ok {
		return ErrNotInCohort
	}
	if !d.Reported.IsZero() && !r.Time.After(d.Reported) {
		return ErrStaleReport
	}
	d.State, d.Version, d.Reason, d.Reported = r.State, r.Version, r.Reason, r.Time.UTC()
	c.rev++
	return nil
}

// View summarises the campaign now (by the configured clock).
func (c *Campaign) View() View {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	v := View{Campaign: c.cfg.Rollout.Campaign, Counts: map[ota.UpdateState]int{}, Offered: len(c.devices)}
	for _, d := range c.devices {
		s := *d
		last := s.Offered
		if s.Reported.After(last) {
			last = s.Reported
		}
		switch {
		case s.State == ota.StateCommitted:
			v.Succeeded++
		case final(s.State):
			v.Failed++
		case now.Sub(last) >= c.cfg.Timeout:
			s.State = StateTimedOut
			v.TimedOut++
		default:
			v.InProgress++
		}
		v.Counts[s.State]++
		v.Devices = append(v.Devices, s)
	}
	slices.SortFunc(v.Devices, func(a, b DeviceStatus) int { return strings.Compare(a.Device.String(), b.Device.String()) })
	return v
}

// Snapshot returns the campaign's per-device state for durable storage.
func (c *Campaign) Snapshot() []DeviceStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]DeviceStatus, 0, len(c.devices))
	for _, d := range c.devices {
		out = append(out, *d)
	}
	return out
}

// Config returns the campaign's configuration (with defaults filled in).
func (c *Campaign) Config() CampaignConfig { return c.cfg }

// Revision counts the campaign's changes: every new offer and every
// applied report adds one. A restored campaign continues from its record's
// revision.
func (c *Campaign) Revision() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rev
}

// RestoreCampaign rebuilds a campaign from cfg and a [Campaign.Snapshot].
func RestoreCampaign(cfg CampaignConfig, devices []DeviceStatus) (*Campaign, error) {
	c, err := NewCampaign(cfg)
	if err != nil {
		return nil, err
	}
	if len(devices) > MaxCampaignDevices {
		return nil, ErrTooManyDevices
	}
	for _, d := range devices {
		if err := validStatus(&d); err != nil {
			return nil, fmt.Errorf("%w: snapshot field %s", ErrMalformedReport, err.Error())
		}
		if _, dup := c.devices[d.Device]; dup {
			return nil, fmt.Errorf("%w: snapshot duplicate device", ErrMalformedReport)
		}
		c.devices[d.Device] = &d
	}
	return c, nil
}

// NewStatusReport builds the report a device publishes for st (from
// [ota.Updater.Resume] or [ota.Updater.Install]), at time now. A failed
// Install (installErr non-nil, before any trial) is reported as
// StateRejected; the reason is the rule label from [ota.Rule], never the
// error text.
func NewStatusReport(device iomt.DeviceID, campaign string, manifestVersion uint64, st ota.Status, installErr error, now time.Time) (*StatusReport, error) {
	r := &StatusReport{V: 1, Device: device, Campaign: campaign, ManifestVersion: manifestVersion, State: st.State, Time: now}
	if st.Manifest != nil && st.State == ota.StateCommitted {
		r.Version = st.Manifest.Version
	}
	switch {
	case installErr != nil && st.State != ota.StateRolledBack:
		r.State, r.Reason = StateRejected, ota.Rule(installErr)
	case st.Rule != "":
		r.Reason = st.Rule
	case st.Reason != nil:
		r.Reason = ota.Rule(st.Reason)
	}
	if r.State == "" {
		r.State = ota.StateIdle
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}
