package release

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openiomt/sdk/internal/atomicfile"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/ota"
)

// DefaultMaxCampaignFileBytes bounds one campaign file when
// FileStoreConfig.MaxFileBytes is zero (about 200,000 devices).
const DefaultMaxCampaignFileBytes = 64 << 20

// MinStoreMACKeyLen is the shortest FileStoreConfig.MACKey accepted.
const MinStoreMACKeyLen = 32

// Errors of campaign stores.
var (
	// ErrCampaignNotFound: the store holds no campaign of that name.
	ErrCampaignNotFound = errors.New("release: campaign not found")
	// ErrCampaignCorrupt: a stored campaign is torn, fails its checksum or
	// breaks a field rule.
	ErrCampaignCorrupt = errors.New("release: campaign file corrupt")
	// ErrCampaignTampered: a stored campaign's HMAC is missing or wrong
	// (the store has a MAC key).
	ErrCampaignTampered = errors.New("release: campaign file fails its MAC")
	// ErrCampaignTooLarge: a campaign file exceeds the store's size limit.
	ErrCampaignTooLarge = errors.New("release: campaign file too large")
	// ErrCampaignName: a campaign name that cannot name a file (it must be
	// a label of letters, digits and "-._+" not starting with ".").
	ErrCampaignName = errors.New("release: campaign name not storable")
)

// CampaignFileError reports a stored campaign that could not be loaded. If
// the file was moved aside, Quarantined is its new path; the campaign is
// then no longer listed.
type CampaignFileError struct {
	Campaign    string
	Quarantined string
	// Err wraps ErrCampaignCorrupt, ErrCampaignTampered or
	// ErrCampaignTooLarge.
	Err error
}

func (e *CampaignFileError) Error() string {
	s := fmt.Sprintf("release: campaign %s: %v", e.Campaign, e.Err)
	if e.Quarantined != "" {
		s += " (moved to " + filepath.Base(e.Quarantined) + ")"
	}
	return s
}

func (e *CampaignFileError) Unwrap() error { return e.Err }

// CampaignRecord is one campaign as a [CampaignStore] keeps it: its
// configuration and every device's state. [Campaign.Record] takes one,
// [RestoreRecord] turns it back into a Campaign.
type CampaignRecord struct {
	Campaign        string         `json:"campaign"`
	Permille        int            `json:"permille"`
	ManifestVersion uint64         `json:"manifest_version"`
	Timeout         time.Duration  `json:"timeout_ns"`
	Version         string         `json:"version,omitempty"`
	ManifestURL     string         `json:"manifest_url,omitempty"`
	Opened          time.Time      `json:"opened"`
	Revision        uint64         `json:"revision"`
	Devices         []DeviceStatus `json:"devices"`
}

// Record returns the campaign's configuration and per-device state at one
// instant, devices ordered by ID, with the campaign's Revision.
func (c *Campaign) Record() *CampaignRecord {
	c.mu.Lock()
	r := &CampaignRecord{Campaign: c.cfg.Rollout.Campaign, Permille: c.cfg.Rollout.Permille,
		ManifestVersion: c.cfg.ManifestVersion, Timeout: c.cfg.Timeout, Version: c.cfg.Version,
		ManifestURL: c.cfg.ManifestURL, Opened: c.cfg.Opened, Revision: c.rev,
		Devices: make([]DeviceStatus, 0, len(c.devices))}
	for _, d := range c.devices {
		r.Devices = append(r.Devices, *d)
	}
	c.mu.Unlock()
	slices.SortFunc(r.Devices, func(a, b DeviceStatus) int { return bytes.Compare(a.Device[:], b.Device[:]) })
	return r
}

// Config returns the campaign configuration r describes; now becomes its
// clock (nil: time.Now).
func (r *CampaignRecord) Config(now func() time.Time) CampaignConfig {
	return CampaignConfig{Rollout: Rollout{Campaign: r.Campaign, Permille: r.Permille}, ManifestVersion: r.ManifestVersion,
		Timeout: r.Timeout, Version: r.Version, ManifestURL: r.ManifestURL, Opened: r.Opened, Now: now}
}

// Validate checks every field rule of r (the same rules NewCampaign and
// RestoreCampaign apply), returning an error wrapping ErrCampaignCorrupt
// that names the field.
func (r *CampaignRecord) Validate() error {
	bad := func(f string) error { return fmt.Errorf("%w: field %s", ErrCampaignCorrupt, f) }
	switch {
	case !label(r.Campaign, false):
		return bad("campaign")
	case r.Permille < 0 || r.Permille > 1000:
		return bad("permille")
	case r.ManifestVersion == 0:
		return bad("manifest_version")
	case r.Timeout <= 0:
		return bad("timeout_ns")
	case r.Version != "" && !ota.ValidSemver(r.Version):
		return bad("version")
	case !validURL(r.ManifestURL):
		return bad("manifest_url")
	case r.Opened.IsZero():
		return bad("opened")
	case len(r.Devices) > MaxCampaignDevices:
		return bad("devices")
	}
	seen := make(map[iomt.DeviceID]struct{}, len(r.Devices))
	for i := range r.Devices {
		if err := validStatus(&r.Devices[i]); err != nil {
			return bad("devices." + err.Error())
		}
		if _, dup := seen[r.Devices[i].Device]; dup {
			return bad("devices.dev (duplicate)")
		}
		seen[r.Devices[i].Device] = struct{}{}
	}
	return nil
}

// validStatus checks one DeviceStatus; the error text is the field name.
func validStatus(d *DeviceStatus) error {
	switch {
	case d.Device.IsZero():
		return errors.New("dev")
	case !slices.Contains(reportStates, d.State):
		return errors.New("state")
	case d.Version != "" && !ota.ValidSemver(d.Version):
		return errors.New("version")
	case !label(d.Reason, true):
		return errors.New("reason")
	case d.Offered.IsZero():
		return errors.New("offered")
	}
	return nil
}

// RestoreRecord rebuilds a Campaign from r, continuing from r's Revision;
// now is its clock (nil: time.Now).
func RestoreRecord(r *CampaignRecord, now func() time.Time) (*Campaign, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c, err := RestoreCampaign(r.Config(now), r.Devices)
	if err != nil {
		return nil, err
	}
	c.rev = r.Revision
	return c, nil
}

// CampaignStore keeps campaigns durably.
type CampaignStore interface {
	// Save stores rec durably before it returns. A record whose Revision
	// is not above the last one this store saved or loaded for the
	// campaign is an older snapshot and is ignored.
	Save(ctx context.Context, rec *CampaignRecord) error
	// Load returns a stored campaign, or an error wrapping
	// ErrCampaignNotFound.
	Load(ctx context.Context, campaign string) (*CampaignRecord, error)
	// List returns the stored campaigns' names, sorted.
	List(ctx context.Context) ([]string, error)
}

var _ CampaignStore = (*FileStore)(nil)

// FileStoreConfig configures [NewFileStore].
type FileStoreConfig struct {
	// Dir holds one file per campaign (created 0700; files 0600).
	// Required.
	Dir string
	// MACKey, when set (at least MinStoreMACKeyLen bytes), authenticates
	// every file with HMAC-SHA-256, so a file edited by someone with
	// write access to Dir but not the key fails with ErrCampaignTampered.
	// Nil keeps only the SHA-256 checksum, which detects torn and
	// corrupted files but not deliberate edits.
	MACKey []byte
	// MaxFileBytes bounds one campaign file, on Save and on Load. Zero
	// means DefaultMaxCampaignFileBytes.
	MaxFileBytes int64
	// Now names quarantined files; nil means time.Now.
	Now func() time.Time
}

// FileStore is a [CampaignStore] with one JSON file per campaign in a
// directory. Every Save rewrites the campaign's file atomically (temporary
// file in the same directory, fsync, rename, fsync of the directory), so a
// crash leaves the previous or the new state, never a mix; it returns only
// once the new state is durable. A file that fails to load (torn, checksum
// or MAC mismatch, field rule, size limit) is moved to Dir/quarantine and
// reported as a [*CampaignFileError].
//
// A FileStore is safe for concurrent use; Saves of one campaign are
// serialised and an older record never overwrites a newer one (see
// CampaignStore.Save). One process should own Dir.
//
// The cost of a Save grows with the campaign's devices (the whole file is
// rewritten), which suits the fleet sizes bounded by MaxFileBytes.
type FileStore struct {
	dir string
	key []byte
	max int64
	now func() time.Time

	mu    sync.Mutex
	locks map[string]*campaignLock
}

type campaignLock struct {
	mu    sync.Mutex
	rev   uint64
	known bool
}

const (
	campaignExt   = ".json"
	quarantineDir = "quarantine"
	fileFormatV   = 1
)

// NewFileStore validates cfg and creates cfg.Dir if needed. Leftover
// temporary files of an interrupted Save are removed.
func NewFileStore(cfg FileStoreConfig) (*FileStore, error) {
	if cfg.Dir == "" {
		return nil, errors.New("release: FileStoreConfig.Dir is required")
	}
	if cfg.MACKey != nil && len(cfg.MACKey) < MinStoreMACKeyLen {
		return nil, fmt.Errorf("release: FileStoreConfig.MACKey shorter than %d bytes", MinStoreMACKeyLen)
	}
	if cfg.MaxFileBytes < 0 {
		return nil, errors.New("release: FileStoreConfig.MaxFileBytes is negative")
	}
	if cfg.MaxFileBytes == 0 {
		cfg.MaxFileBytes = DefaultMaxCampaignFileBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("release: campaign store: %w", err)
	}
	if tmps, err := filepath.Glob(filepath.Join(cfg.Dir, ".*.tmp*")); err == nil {
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	return &FileStore{dir: cfg.Dir, key: bytes.Clone(cfg.MACKey), max: cfg.MaxFileBytes, now: cfg.Now,
		locks: map[string]*campaignLock{}}, nil
}

func storableName(name string) bool {
	return label(name, false) && !strings.HasPrefix(name, ".")
}

func (s *FileStore) lock(name string) *campaignLock {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[name]
	if !ok {
		l = &campaignLock{}
		s.locks[name] = l
	}
	l.mu.Lock()
	return l
}

func (s *FileStore) path(name string) string { return filepath.Join(s.dir, name+campaignExt) }

// Save implements [CampaignStore]. It fails with ErrCampaignName for a
// name that cannot be a file name, an error wrapping ErrCampaignCorrupt for
// an invalid record and ErrCampaignTooLarge beyond MaxFileBytes.
func (s *FileStore) Save(ctx context.Context, rec *CampaignRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("%w: nil record", ErrCampaignCorrupt)
	}
	if !storableName(rec.Campaign) {
		return ErrCampaignName
	}
	b, err := EncodeCampaignFile(rec, s.key)
	if err != nil {
		return err
	}
	if int64(len(b)) > s.max {
		return ErrCampaignTooLarge
	}
	l := s.lock(rec.Campaign)
	defer l.mu.Unlock()
	if l.known && rec.Revision <= l.rev {
		return nil // an older (or the same) snapshot: the file already has it
	}
	if err := writeFileAtomic(s.path(rec.Campaign), b); err != nil {
		return err
	}
	l.rev, l.known = rec.Revision, true
	return nil
}

// Load implements [CampaignStore]. A file that does not load is moved to
// Dir/quarantine and reported as a *CampaignFileError.
func (s *FileStore) Load(ctx context.Context, campaign string) (*CampaignRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !storableName(campaign) {
		return nil, ErrCampaignName
	}
	l := s.lock(campaign)
	defer l.mu.Unlock()
	b, err := readBounded(s.path(campaign), s.max)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrCampaignNotFound, campaign)
	}
	if err == nil {
		var rec *CampaignRecord
		if rec, err = DecodeCampaignFile(b, s.key); err == nil && rec.Campaign != campaign {
			err = fmt.Errorf("%w: field campaign (file name)", ErrCampaignCorrupt)
		}
		if err == nil {
			l.rev, l.known = rec.Revision, true
			return rec, nil
		}
	}
	if !errors.Is(err, ErrCampaignCorrupt) && !errors.Is(err, ErrCampaignTampered) && !errors.Is(err, ErrCampaignTooLarge) {
		return nil, err // I/O error: leave the file alone
	}
	fe := &CampaignFileError{Campaign: campaign, Err: err}
	if q, qerr := s.quarantine(campaign); qerr == nil {
		fe.Quarantined = q
		l.known = false
	}
	return nil, fe
}

func (s *FileStore) quarantine(name string) (string, error) {
	qd := filepath.Join(s.dir, quarantineDir)
	if err := os.MkdirAll(qd, 0o700); err != nil {
		return "", err
	}
	q := filepath.Join(qd, fmt.Sprintf("%s%s.%s", name, campaignExt, s.now().UTC().Format("20060102T150405.000000000Z")))
	if err := os.Rename(s.path(name), q); err != nil {
		return "", err
	}
	return q, syncDir(s.dir)
}

// List implements [CampaignStore].
func (s *FileStore) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("release: campaign store: %w", err)
	}
	var names []string
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), campaignExt)
		if ok && e.Type().IsRegular() && storableName(n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// fileEnvelope is the on-disk form: the record's exact bytes with their
// SHA-256 and, with a MAC key, HMAC-SHA-256.
type fileEnvelope struct {
	V      int             `json:"v"`
	SHA256 string          `json:"sha256"`
	HMAC   string          `json:"hmac_sha256,omitempty"`
	Record json.RawMessage `json:"record"`
}

// EncodeCampaignFile returns the file form of rec: {"v":1,"sha256":…,
// "hmac_sha256":…,"record":{…}}, the HMAC only with a non-nil macKey. An
// invalid record fails with an error wrapping ErrCampaignCorrupt.
func EncodeCampaignFile(rec *CampaignRecord, macKey []byte) ([]byte, error) {
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCampaignCorrupt, err)
	}
	sum := sha256.Sum256(body)
	env := fileEnvelope{V: fileFormatV, SHA256: hex.EncodeToString(sum[:]), Record: body}
	if macKey != nil {
		env.HMAC = hex.EncodeToString(mac(macKey, body))
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCampaignCorrupt, err)
	}
	return append(b, '\n'), nil
}

func mac(key, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("openiomt release campaign v1\x00"))
	h.Write(body)
	return h.Sum(nil)
}

// DecodeCampaignFile parses a campaign file strictly: closed schemas, no
// trailing data, the checksum, the HMAC when macKey is non-nil (a missing
// or wrong one fails with ErrCampaignTampered), then every field rule.
// Other failures wrap ErrCampaignCorrupt. Errors name fields, never values.
// The caller bounds len(data).
func DecodeCampaignFile(data []byte, macKey []byte) (*CampaignRecord, error) {
	var env fileEnvelope
	if err := decodeStrictJSON(data, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope", ErrCampaignCorrupt)
	}
	if env.V != fileFormatV {
		return nil, fmt.Errorf("%w: field v", ErrCampaignCorrupt)
	}
	want, err := hex.DecodeString(env.SHA256)
	sum := sha256.Sum256(env.Record)
	if err != nil || !hmac.Equal(want, sum[:]) {
		return nil, fmt.Errorf("%w: checksum", ErrCampaignCorrupt)
	}
	if macKey != nil {
		got, err := hex.DecodeString(env.HMAC)
		if err != nil || env.HMAC == "" || !hmac.Equal(got, mac(macKey, env.Record)) {
			return nil, ErrCampaignTampered
		}
	}
	var rec CampaignRecord
	if err := decodeStrictJSON(env.Record, &rec); err != nil {
		return nil, fmt.Errorf("%w: record", ErrCampaignCorrupt)
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	return &rec, nil
}

// decodeStrictJSON decodes exactly one JSON value, rejecting unknown fields
// and trailing data.
func decodeStrictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// readBounded reads path, refusing more than max bytes with
// ErrCampaignTooLarge.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("release: read campaign: %w", err)
	}
	if int64(len(b)) > max {
		return nil, ErrCampaignTooLarge
	}
	return b, nil
}

// writeFileAtomic replaces path so that a crash leaves the old or the new
// content.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("release: campaign store: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("release: campaign store: %w", err)
	}
	return nil
}
