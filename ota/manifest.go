package ota

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"time"
	"unicode"
)

// Manifest is a release manifest (targets role), signed as JWS JSON general
// serialization with typ [TypeManifest] by a threshold of the targets keys.
//
// Wire form (exactly these fields; url may be omitted):
//
//	{"manifest_version":7,"expires":"2027-01-01T00:00:00Z","name":"bpm-firmware",
//	 "version":"1.4.2","security_version":3,"hardware":["bpm-rev-c"],
//	 "length":1048576,"sha256":"<64 hex>","url":"https://updates.example.com/bpm-1.4.2.img"}
type Manifest struct {
	// ManifestVersion increases with every manifest the maker publishes;
	// a device never accepts one below the last it accepted.
	ManifestVersion uint64 `json:"manifest_version"`
	// Expires bounds how long a captured manifest can be replayed.
	Expires time.Time `json:"expires"`
	// Name is the product firmware's name.
	Name string `json:"name"`
	// Version is the firmware's semantic version (SemVer 2.0.0, no "v").
	Version string `json:"version"`
	// SecurityVersion is compared with the anti-rollback counter.
	SecurityVersion uint64 `json:"security_version"`
	// Hardware lists the hardware IDs the image runs on.
	Hardware []string `json:"hardware"`
	// Length is the image's exact size in bytes.
	Length int64 `json:"length"`
	// SHA256 is the image's digest, lowercase hex.
	SHA256 string `json:"sha256"`
	// URL is where devices fetch the image (https), or empty.
	URL string `json:"url,omitempty"`
}

// Digest returns the decoded SHA-256 digest.
func (m *Manifest) Digest() ([]byte, error) {
	d, err := hex.DecodeString(m.SHA256)
	if err != nil || len(d) != 32 || hex.EncodeToString(d) != m.SHA256 {
		return nil, malformed("manifest", "sha256")
	}
	return d, nil
}

// validate checks every field rule of a manifest.
func (m *Manifest) validate() error {
	if m.ManifestVersion == 0 {
		return malformed("manifest", "manifest_version")
	}
	if m.Expires.IsZero() {
		return malformed("manifest", "expires")
	}
	if !validLabel(m.Name) {
		return malformed("manifest", "name")
	}
	if !ValidSemver(m.Version) {
		return malformed("manifest", "version")
	}
	if len(m.Hardware) == 0 {
		return malformed("manifest", "hardware")
	}
	if len(m.Hardware) > MaxHardwareIDs {
		return &LimitError{Name: "MaxHardwareIDs", Limit: MaxHardwareIDs}
	}
	for _, h := range m.Hardware {
		if !validLabel(h) {
			return malformed("manifest", "hardware")
		}
	}
	if m.Length <= 0 {
		return malformed("manifest", "length")
	}
	if _, err := m.Digest(); err != nil {
		return err
	}
	if m.URL != "" {
		if len(m.URL) > MaxURLLen {
			return &LimitError{Name: "MaxURLLen", Limit: MaxURLLen}
		}
		u, err := url.Parse(m.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
			return malformed("manifest", "url")
		}
	}
	return nil
}

// validLabel accepts 1..MaxStringLen printable, non-space ASCII characters.
func validLabel(s string) bool {
	if s == "" || len(s) > MaxStringLen {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// semverRE is the official SemVer 2.0.0 regular expression (semver.org).
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// ValidSemver reports whether s is a SemVer 2.0.0 version without a "v"
// prefix, at most MaxStringLen bytes.
func ValidSemver(s string) bool {
	return len(s) <= MaxStringLen && semverRE.MatchString(s)
}

// decodeManifest parses a signed manifest without checking signatures.
func decodeManifest(data []byte) (*Manifest, *signedDoc, error) {
	d, err := parseJWS(data, TypeManifest, "MaxManifestBytes", MaxManifestBytes)
	if err != nil {
		return nil, nil, err
	}
	var m Manifest
	if err := decodeStrict("manifest", d.payload, &m); err != nil {
		return nil, nil, err
	}
	if err := m.validate(); err != nil {
		return nil, nil, err
	}
	return &m, d, nil
}

// ParseManifestUnverified parses a signed manifest and checks its fields
// but NOT its signatures: for display and tooling only. Devices use a
// [Verifier].
func ParseManifestUnverified(data []byte) (*Manifest, error) {
	m, _, err := decodeManifest(data)
	return m, err
}

// SignManifest validates m and signs it with keys (one signature per
// distinct key). It does not know the root; [Verifier] decides whether the
// keys meet the targets threshold.
func SignManifest(rand io.Reader, m *Manifest, keys []*PrivateKey) ([]byte, error) {
	if m == nil {
		return nil, malformed("manifest", "(nil)")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("ota: encode manifest: %w", err)
	}
	return signJWS(rand, payload, TypeManifest, keys)
}
