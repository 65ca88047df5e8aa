package sbom

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
)

// Result is a generated SBOM and what generation noticed.
type Result struct {
	// BOM is the SBOM, spec version 1.6 in memory; [Encode] writes 1.6 or 1.5.
	BOM *cdx.BOM
	// Unmatched lists the bom-refs of components no policy rule matched and
	// that lack FDA fields, excluding scope "excluded" (not shipped). Sorted.
	Unmatched []string
	// SkippedVulns lists govulncheck findings for modules outside the SBOM,
	// as "ID (module)".
	SkippedVulns []string
}

const toolModule = "github.com/openiomt/sdk"

// sbomNamespace is the UUID namespace of content-derived serial numbers.
var sbomNamespace = uuid.MustParse("6f0b6a4e-2d1c-4b8a-9f7e-3c5d1e0a9b42")

func assemble(ctx context.Context, cfg *Config, mode string, main cdx.Component, mods []*goModule, deps map[string][]string, goroot string) (*Result, error) {
	if cfg.Manifest != nil && len(mods)+len(cfg.Manifest.Components)+1 > cfg.Limits.MaxComponents {
		return nil, &LimitError{What: "components", Limit: int64(cfg.Limits.MaxComponents)}
	}
	var lic []licenseResult
	if !cfg.SkipLicenses {
		var err error
		if lic, err = scanLicenses(ctx, cfg, mods); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	byRef := map[string]bool{main.BOMRef: true}
	refOfModule := map[string]string{}
	var comps []cdx.Component

	// The Go standard library, named as the Go vulnerability database names it.
	if v := goVersionToSemver(cfg.GoVersion); v != "" {
		std := goComponent(&goModule{Path: "stdlib", Version: v, Usage: "build"})
		if goroot == "" {
			goroot = os.Getenv("GOROOT")
		}
		if goroot != "" && !cfg.SkipLicenses {
			r := detectLicenses(goroot, cfg.Limits.MaxLicenseSize)
			std.Licenses = cdxLicenses(r.IDs)
		}
		comps = append(comps, std)
		byRef[std.BOMRef] = true
		refOfModule["stdlib"] = std.BOMRef
		deps[main.BOMRef] = append(deps[main.BOMRef], std.BOMRef)
	}
	for i, m := range mods {
		c := goComponent(m)
		if byRef[c.BOMRef] {
			continue // the same module replacing two paths
		}
		byRef[c.BOMRef] = true
		refOfModule[m.Path] = c.BOMRef
		if m.Replaces != "" {
			refOfModule[m.Replaces] = c.BOMRef
		}
		if lic != nil {
			c.Licenses = cdxLicenses(lic[i].IDs)
			if len(lic[i].Unrecognized) > 0 {
				setProp(&c, PropLicenseUnrecognized, strings.Join(lic[i].Unrecognized, ","))
			}
		}
		comps = append(comps, c)
	}
	for i := range comps {
		comps[i].Supplier = derivedSupplier(comps[i].Name)
		setProp(&comps[i], PropSupplierDerived, "true")
	}
	if cfg.Manifest != nil {
		for _, mc := range cfg.Manifest.Components {
			c := mc.cdx()
			if byRef[c.BOMRef] {
				return nil, &ParseError{Input: manifestInput, Err: fmt.Errorf("%w: component %s duplicates a Go module", ErrMalformedManifest, c.BOMRef)}
			}
			byRef[c.BOMRef] = true
			comps = append(comps, c)
			deps[main.BOMRef] = append(deps[main.BOMRef], c.BOMRef)
			deps[c.BOMRef] = append(deps[c.BOMRef], mc.DependsOn...)
		}
	}
	for i := range comps {
		if !applyFDA(cfg.Policy, &comps[i]) && comps[i].Scope != cdx.ScopeExcluded &&
			(getProp(&comps[i], PropSupportLevel) == "" || getProp(&comps[i], PropEndOfSupport) == "") {
			res.Unmatched = append(res.Unmatched, comps[i].BOMRef)
		}
		sortProps(&comps[i])
	}
	slices.Sort(res.Unmatched)
	slices.SortFunc(comps, func(a, b cdx.Component) int { return cmp.Compare(a.BOMRef, b.BOMRef) })

	// The main component: supplied by the device maker named in the policy.
	if cfg.Policy != nil && cfg.Policy.Supplier != nil {
		main.Supplier = cfg.Policy.Supplier.cdx()
	} else {
		main.Supplier = derivedSupplier(main.Name)
		setProp(&main, PropSupplierDerived, "true")
	}
	applyFDA(cfg.Policy, &main)
	sortProps(&main)

	// Dependencies: one entry per component, sorted, so every component has
	// its relationships stated (an empty dependsOn means "none").
	var depList []cdx.Dependency
	for _, ref := range append([]string{main.BOMRef}, refsOf(comps)...) {
		on := slices.Clone(deps[ref])
		slices.Sort(on)
		on = slices.Compact(on)
		d := cdx.Dependency{Ref: ref}
		if len(on) > 0 {
			d.Dependencies = &on
		}
		depList = append(depList, d)
	}
	slices.SortFunc(depList, func(a, b cdx.Dependency) int { return cmp.Compare(a.Ref, b.Ref) })

	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.JSONSchema = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	bom.XMLNS = "http://cyclonedx.org/schema/bom/1.6"
	phase := cdx.LifecyclePhasePreBuild
	if mode == "bin" {
		phase = cdx.LifecyclePhaseBuild
	}
	md := &cdx.Metadata{
		Lifecycles: &[]cdx.Lifecycle{{Phase: phase}},
		Tools:      &cdx.ToolsChoice{Components: &[]cdx.Component{toolComponent(cfg.ToolVersion)}},
		Component:  &main,
		Supplier:   main.Supplier,
		Properties: &[]cdx.Property{prop(PropMode, mode)},
	}
	var authors []cdx.OrganizationalContact
	if cfg.Policy != nil {
		for _, a := range cfg.Policy.Authors {
			authors = append(authors, cdx.OrganizationalContact{Name: a.Name, Email: a.Email})
		}
	}
	for _, a := range cfg.Authors {
		authors = append(authors, cdx.OrganizationalContact{Name: a.Name, Email: a.Email})
	}
	if len(authors) > 0 {
		md.Authors = &authors
	}
	if cfg.Reproducible {
		if !cfg.SourceDate.IsZero() {
			md.Timestamp = cfg.SourceDate.UTC().Format(time.RFC3339)
		}
	} else {
		md.Timestamp = cfg.Now().UTC().Format(time.RFC3339)
	}
	bom.Metadata = md
	bom.Components = &comps
	bom.Dependencies = &depList

	if cfg.Vulnerabilities != nil {
		vulns, skipped := cdxVulns(cfg.Vulnerabilities, func(mod string) (string, bool) {
			r, ok := refOfModule[mod]
			return r, ok
		})
		res.SkippedVulns = skipped
		if len(vulns) > 0 {
			bom.Vulnerabilities = &vulns
		}
	}

	serial, err := serialNumber(cfg, bom)
	if err != nil {
		return nil, err
	}
	bom.SerialNumber = serial
	res.BOM = bom
	cfg.progressf("%d components", len(comps)+1)
	return res, nil
}

func refsOf(cs []cdx.Component) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.BOMRef
	}
	return out
}

func sortProps(c *cdx.Component) {
	if c.Properties != nil {
		slices.SortStableFunc(*c.Properties, func(a, b cdx.Property) int { return cmp.Compare(a.Name, b.Name) })
	}
}

// serialNumber is random, or in reproducible mode a UUIDv8 over the SHA-256
// of the BOM's JSON without a serial number (RFC 9562 name-based).
func serialNumber(cfg *Config, bom *cdx.BOM) (string, error) {
	if !cfg.Reproducible {
		r := cfg.Rand
		if r == nil {
			r = rand.Reader
		}
		u, err := uuid.NewRandomFromReader(r)
		if err != nil {
			return "", fmt.Errorf("sbom: serial number: %w", err)
		}
		return u.URN(), nil
	}
	bom.SerialNumber = ""
	b, err := json.Marshal(bom)
	if err != nil {
		return "", fmt.Errorf("sbom: serial number: %w", err)
	}
	return uuid.NewHash(sha256.New(), sbomNamespace, b, 8).URN(), nil
}

// toolComponent describes this package as the generating tool.
func toolComponent(version string) cdx.Component {
	if version == "" {
		version = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Path == toolModule && bi.Main.Version != "" {
				version = bi.Main.Version
			}
			for _, d := range bi.Deps {
				if d.Path == toolModule && d.Version != "" {
					version = d.Version
				}
			}
		}
	}
	ref := GoPURL(toolModule, version)
	return cdx.Component{
		Type:       cdx.ComponentTypeApplication,
		Name:       "openiomt sbom",
		Version:    version,
		PackageURL: ref,
		Supplier:   &cdx.OrganizationalEntity{Name: "openiomt"},
		ExternalReferences: &[]cdx.ExternalReference{
			{Type: cdx.ERTypeVCS, URL: "https://github.com/openiomt/sdk"},
		},
	}
}
