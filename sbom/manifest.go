package sbom

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/licensecheck"
)

const maxManifestComponents = 10000

// Manifest lists components that are not Go modules — bootloader, RTOS,
// BLE stack, C libraries, radio firmware — to merge into an SBOM. It is read
// from JSON or YAML, like a [Policy]:
//
//	components:
//	  - type: firmware
//	    name: mcuboot
//	    version: 2.1.0
//	    purl: pkg:github/mcu-tools/mcuboot@v2.1.0
//	    supplier: {name: Linaro, url: [https://www.trustedfirmware.org]}
//	    licenses: [Apache-2.0]
//	    hashes: [{alg: SHA-256, content: "9f86d0…"}]
//	    supportLevel: actively-maintained
//	    endOfSupport: "2028-01-01"
//
// Each component needs a name, a version and a purl or CPE. Its support
// fields, when absent, come from the policy like any other component's. The
// main component depends on every manifest component; dependsOn adds edges
// between manifest components (by purl, CPE or "name@version").
type Manifest struct {
	Components []ManifestComponent `json:"components" yaml:"components"`
}

// ManifestComponent is one non-Go component.
type ManifestComponent struct {
	// Type is a CycloneDX component type: firmware, operating-system,
	// library, application, framework, device, file or container.
	Type         string         `json:"type" yaml:"type"`
	Name         string         `json:"name" yaml:"name"`
	Version      string         `json:"version" yaml:"version"`
	Description  string         `json:"description,omitempty" yaml:"description,omitempty"`
	PURL         string         `json:"purl,omitempty" yaml:"purl,omitempty"`
	CPE          string         `json:"cpe,omitempty" yaml:"cpe,omitempty"`
	Supplier     *Supplier      `json:"supplier,omitempty" yaml:"supplier,omitempty"`
	Licenses     []string       `json:"licenses,omitempty" yaml:"licenses,omitempty"`
	Hashes       []ManifestHash `json:"hashes,omitempty" yaml:"hashes,omitempty"`
	SupportLevel string         `json:"supportLevel,omitempty" yaml:"supportLevel,omitempty"`
	EndOfSupport string         `json:"endOfSupport,omitempty" yaml:"endOfSupport,omitempty"`
	DependsOn    []string       `json:"dependsOn,omitempty" yaml:"dependsOn,omitempty"`
}

// ManifestHash is a digest of a component's artefact, hex encoded.
type ManifestHash struct {
	Alg     string `json:"alg" yaml:"alg"` // SHA-256, SHA-384, SHA-512, SHA3-256 or SHA3-512
	Content string `json:"content" yaml:"content"`
}

var (
	manifestTypes = map[string]cdx.ComponentType{
		"firmware": cdx.ComponentTypeFirmware, "operating-system": cdx.ComponentTypeOS,
		"library": cdx.ComponentTypeLibrary, "application": cdx.ComponentTypeApplication,
		"framework": cdx.ComponentTypeFramework, "device": cdx.ComponentTypeDevice,
		"file": cdx.ComponentTypeFile, "container": cdx.ComponentTypeContainer,
	}
	hashLens = map[string]int{"SHA-256": 32, "SHA-384": 48, "SHA-512": 64, "SHA3-256": 32, "SHA3-512": 64}
	purlRE   = regexp.MustCompile(`^pkg:[a-z][a-z0-9.+-]*/[^\s]+$`)
	cpeRE    = regexp.MustCompile(`^cpe:2\.3:[aho\*\-](:[^\s:]+){10}$|^cpe:/[aho]:[^\s]+$`)
	spdxIDs  = builtinSPDX()
)

func builtinSPDX() map[string]bool {
	m := map[string]bool{}
	for _, l := range licensecheck.BuiltinLicenses() {
		if !nonSPDX[l.ID] {
			m[l.ID] = true
		}
	}
	return m
}

// ParseManifest parses and checks a JSON or YAML component manifest. Errors
// wrap [ErrMalformedManifest] (as a [*ParseError] naming the field) or
// [ErrTooLarge].
func ParseManifest(data []byte) (*Manifest, error) {
	if int64(len(data)) > DefaultMaxPolicySize {
		return nil, &LimitError{What: "manifest size", Limit: DefaultMaxPolicySize}
	}
	var m Manifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, &ParseError{Input: manifestInput, Err: fmt.Errorf("%w: %v", ErrMalformedManifest, err)}
	}
	if len(m.Components) > maxManifestComponents {
		return nil, &LimitError{What: "manifest components", Limit: maxManifestComponents}
	}
	refs := map[string]bool{}
	for i := range m.Components {
		c := &m.Components[i]
		if err := c.validate(); err != nil {
			return nil, &ParseError{Input: manifestInput, Where: fmt.Sprintf("components[%d].%s", i, err.field),
				Err: fmt.Errorf("%w: %s", ErrMalformedManifest, err.msg)}
		}
		if refs[c.ref()] {
			return nil, &ParseError{Input: manifestInput, Where: fmt.Sprintf("components[%d]", i),
				Err: fmt.Errorf("%w: duplicate component", ErrMalformedManifest)}
		}
		refs[c.ref()] = true
	}
	for i, c := range m.Components {
		for j, d := range c.DependsOn {
			if !refs[d] {
				return nil, &ParseError{Input: manifestInput, Where: fmt.Sprintf("components[%d].dependsOn[%d]", i, j),
					Err: fmt.Errorf("%w: names no component of the manifest", ErrMalformedManifest)}
			}
		}
	}
	return &m, nil
}

type fieldErr struct{ field, msg string }

func (c *ManifestComponent) validate() *fieldErr {
	long := func(s string) bool { return len(s) > maxPolicyStringLen }
	if _, ok := manifestTypes[c.Type]; !ok {
		return &fieldErr{"type", "must be firmware, operating-system, library, application, framework, device, file or container"}
	}
	if strings.TrimSpace(c.Name) == "" || long(c.Name) {
		return &fieldErr{"name", "is required (at most 4096 bytes)"}
	}
	if strings.TrimSpace(c.Version) == "" || long(c.Version) {
		return &fieldErr{"version", "is required (at most 4096 bytes)"}
	}
	if long(c.Description) {
		return &fieldErr{"description", "is too long"}
	}
	if c.PURL == "" && c.CPE == "" {
		return &fieldErr{"purl", "a purl or a cpe is required"}
	}
	if c.PURL != "" && (long(c.PURL) || !purlRE.MatchString(c.PURL)) {
		return &fieldErr{"purl", "is not a package URL"}
	}
	if c.CPE != "" && (long(c.CPE) || !cpeRE.MatchString(c.CPE)) {
		return &fieldErr{"cpe", "is not a CPE 2.2 or 2.3 name"}
	}
	if c.Supplier != nil {
		if err := checkSupplier(c.Supplier); err != nil {
			return &fieldErr{"supplier", err.Error()}
		}
	}
	for i, l := range c.Licenses {
		if strings.TrimSpace(l) == "" || len(l) > 256 {
			return &fieldErr{fmt.Sprintf("licenses[%d]", i), "must be an SPDX ID or licence name"}
		}
	}
	for i, h := range c.Hashes {
		n, ok := hashLens[h.Alg]
		raw, err := hex.DecodeString(h.Content)
		if !ok || err != nil || len(raw) != n {
			return &fieldErr{fmt.Sprintf("hashes[%d]", i), "needs alg SHA-256|SHA-384|SHA-512|SHA3-256|SHA3-512 and its hex digest"}
		}
	}
	if c.SupportLevel != "" && !validSupportLevel(c.SupportLevel) {
		return &fieldErr{"supportLevel", "must be actively-maintained, no-longer-maintained, abandoned or unknown"}
	}
	if c.EndOfSupport != "" {
		if _, err := time.Parse(dateLayout, c.EndOfSupport); err != nil {
			return &fieldErr{"endOfSupport", "must be a date YYYY-MM-DD"}
		}
	}
	if len(c.DependsOn) > maxManifestComponents {
		return &fieldErr{"dependsOn", "too many entries"}
	}
	return nil
}

// ref is the component's bom-ref: its purl, else its CPE.
func (c *ManifestComponent) ref() string {
	if c.PURL != "" {
		return c.PURL
	}
	return c.CPE
}

func (c *ManifestComponent) cdx() cdx.Component {
	out := cdx.Component{
		BOMRef:      c.ref(),
		Type:        manifestTypes[c.Type],
		Name:        c.Name,
		Version:     c.Version,
		Description: c.Description,
		PackageURL:  c.PURL,
		CPE:         c.CPE,
		Scope:       cdx.ScopeRequired,
		Supplier:    c.Supplier.cdx(),
	}
	if len(c.Licenses) > 0 {
		ls := make(cdx.Licenses, 0, len(c.Licenses))
		for _, l := range c.Licenses {
			if spdxIDs[l] {
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{ID: l}})
			} else {
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{Name: l}})
			}
		}
		out.Licenses = &ls
	}
	if len(c.Hashes) > 0 {
		hs := make([]cdx.Hash, 0, len(c.Hashes))
		for _, h := range c.Hashes {
			hs = append(hs, cdx.Hash{Algorithm: cdx.HashAlgorithm(h.Alg), Value: strings.ToLower(h.Content)})
		}
		out.Hashes = &hs
	}
	if c.SupportLevel != "" {
		setProp(&out, PropSupportLevel, c.SupportLevel)
	}
	if c.EndOfSupport != "" {
		setProp(&out, PropEndOfSupport, c.EndOfSupport)
	}
	return out
}
