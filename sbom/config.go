package sbom

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Default limits. [ParsePolicy] and [ParseManifest] refuse inputs over
// DefaultMaxPolicySize; [ParseGovulncheck] and [Decode] take their own
// maximum, DefaultMaxInputSize when zero; the rest are [Limits] defaults.
const (
	DefaultMaxComponents  = 20000     // modules plus manifest components
	DefaultMaxInputSize   = 64 << 20  // govulncheck output and BOM documents
	DefaultMaxPolicySize  = 4 << 20   // policy and manifest files
	DefaultMaxLicenseSize = 1 << 20   // one licence file
	DefaultMaxGoOutput    = 256 << 20 // output of one go command
)

// Limits bounds every cost an input controls. A zero field means its
// Default… constant.
type Limits struct {
	// MaxComponents bounds the modules plus manifest components in one SBOM
	// and the components read back by [Decode].
	MaxComponents int
	// MaxLicenseSize bounds one licence file read for detection; larger
	// files are left undetected (their licence stays unknown).
	MaxLicenseSize int64
	// MaxGoOutput bounds what one go command may print.
	MaxGoOutput int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxComponents <= 0 {
		l.MaxComponents = DefaultMaxComponents
	}
	if l.MaxLicenseSize <= 0 {
		l.MaxLicenseSize = DefaultMaxLicenseSize
	}
	if l.MaxGoOutput <= 0 {
		l.MaxGoOutput = DefaultMaxGoOutput
	}
	return l
}

// SpecVersion is a CycloneDX specification version this package writes.
type SpecVersion string

// Supported specification versions.
const (
	Spec16 SpecVersion = "1.6" // the default
	Spec15 SpecVersion = "1.5"
)

func (v SpecVersion) cdx() (cdx.SpecVersion, error) {
	switch v {
	case "", Spec16:
		return cdx.SpecVersion1_6, nil
	case Spec15:
		return cdx.SpecVersion1_5, nil
	}
	return 0, fmt.Errorf("%w: spec version (want 1.6 or 1.5)", ErrUnsupported)
}

// Format is an output encoding.
type Format string

// Output formats.
const (
	FormatJSON Format = "json" // the default
	FormatXML  Format = "xml"
)

// Contact is a person or team: an SBOM author, or a supplier's contact.
type Contact struct {
	Name  string `json:"name" yaml:"name"`
	Email string `json:"email,omitempty" yaml:"email,omitempty"`
}

// Supplier is the organisation that supplies a component.
type Supplier struct {
	Name string   `json:"name" yaml:"name"`
	URL  []string `json:"url,omitempty" yaml:"url,omitempty"`
}

// Config controls SBOM generation. The zero value is ready to use: CycloneDX
// 1.6, licence detection on, no policy, no extra components, no
// vulnerabilities, current time, random serial number, silent, `go` from
// PATH. [FromModule] and [FromBinary] copy it; it may be reused, and used
// concurrently, as long as nothing mutates it meanwhile.
type Config struct {
	// Policy supplies FDA support fields, suppliers and authors by purl glob.
	// Nil means none: every component is then reported as unmatched.
	Policy *Policy
	// Manifest holds non-Go components (bootloader, RTOS, C libraries) to
	// merge in. Nil means none.
	Manifest *Manifest
	// Vulnerabilities from govulncheck ([ParseGovulncheck]). Nil means the
	// SBOM carries no vulnerabilities[] section.
	Vulnerabilities *VulnReport
	// Authors of the SBOM data (NTIA "author"). Appended to Policy.Authors.
	Authors []Contact
	// MainVersion is the version of the main module in mod mode, e.g. the
	// release tag being built. Empty means "(devel)", as the go command says.
	MainVersion string
	// SkipLicenses turns licence detection off (much faster on cold caches).
	SkipLicenses bool
	// Reproducible makes output a function of the inputs alone: no
	// timestamp unless SourceDate is set, and a serial number derived from
	// the content instead of Rand.
	Reproducible bool
	// SourceDate is the timestamp written in reproducible mode (as in
	// SOURCE_DATE_EPOCH). Zero means no timestamp.
	SourceDate time.Time
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Rand feeds the random serial number. Nil means crypto/rand.
	Rand io.Reader
	// GoCommand is the go binary for mod mode. Empty means "go" from PATH.
	GoCommand string
	// Env is appended to the environment of go commands (e.g. GOFLAGS=-mod=mod).
	Env []string
	// ModCache is the module cache used to find licence files and zip
	// hashes. Empty means `go env GOMODCACHE` (mod mode) or $GOMODCACHE,
	// then $GOPATH/pkg/mod, then ~/go/pkg/mod (bin mode).
	ModCache string
	// GoVersion overrides the Go toolchain version recorded as the stdlib
	// component, e.g. "go1.25.0". Empty means `go env GOVERSION` in the module
	// directory (mod mode) or the version recorded in the binary (bin mode).
	GoVersion string
	// ToolVersion is written as the version of the generating tool. Empty
	// means the version of github.com/openiomt/sdk in this program's build
	// information.
	ToolVersion string
	// Progress receives human-readable progress lines (licence scanning of
	// large graphs). Nil means silent.
	Progress io.Writer
	// Logger receives debug records. Nil means no logging.
	Logger *slog.Logger
	// Concurrency bounds parallel licence scans. Zero means GOMAXPROCS.
	Concurrency int
	// Limits bounds input sizes; zero fields mean the defaults.
	Limits Limits
}

func (c Config) withDefaults() Config {
	c.Limits = c.Limits.withDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.GoCommand == "" {
		c.GoCommand = "go"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MainVersion == "" {
		c.MainVersion = "(devel)"
	}
	return c
}

func (c *Config) progressf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "sbom: "+format+"\n", args...)
	}
}
