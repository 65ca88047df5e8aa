package sbom

import (
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Rules a [Problem] can break.
const (
	RuleNTIA = "ntia" // NTIA minimum elements for an SBOM (2021)
	RuleFDA  = "fda"  // FDA premarket cybersecurity guidance fields
)

// Elements a [Problem] can name.
const (
	ElemAuthor       = "author"
	ElemTimestamp    = "timestamp"
	ElemSupplier     = "supplier"
	ElemName         = "name"
	ElemVersion      = "version"
	ElemIdentifier   = "unique identifier"
	ElemDependencies = "dependency relationships"
	ElemSupportLevel = "support level"
	ElemEndOfSupport = "end-of-support date"
	ElemPrimary      = "primary component"
)

// Problem is one missing or invalid element.
type Problem struct {
	// Ref is the component's bom-ref, its name when it has no bom-ref, or
	// "metadata" for document-level elements.
	Ref     string
	Element string // one of the Elem… constants
	Rule    string // RuleNTIA or RuleFDA
	Invalid bool   // present but not valid (e.g. a malformed date)
}

// String formats the problem as "rule: ref: element missing|invalid".
func (p Problem) String() string {
	state := "missing"
	if p.Invalid {
		state = "invalid"
	}
	return p.Rule + ": " + p.Ref + ": " + p.Element + " " + state
}

// Check reports every missing NTIA minimum element (author, timestamp, and
// per component supplier, name, version, a unique identifier — purl, CPE or
// SWID — and a dependencies entry) and every missing FDA field (support level
// and end-of-support date per component other than the main one and those
// with scope "excluded", which are not part of the product — in mod mode,
// modules in the graph that provide no package), in document order. A nil or empty result means complete. Check never
// modifies bom.
func Check(bom *cdx.BOM) []Problem {
	var ps []Problem
	add := func(ref, elem, rule string, invalid bool) {
		ps = append(ps, Problem{Ref: ref, Element: elem, Rule: rule, Invalid: invalid})
	}
	md := bom.Metadata
	if md == nil {
		md = &cdx.Metadata{}
	}
	hasAuthor := false
	if md.Authors != nil {
		for _, a := range *md.Authors {
			if strings.TrimSpace(a.Name) != "" || strings.TrimSpace(a.Email) != "" {
				hasAuthor = true
			}
		}
	}
	if !hasAuthor {
		add("metadata", ElemAuthor, RuleNTIA, false)
	}
	if md.Timestamp == "" {
		add("metadata", ElemTimestamp, RuleNTIA, false)
	} else if _, err := time.Parse(time.RFC3339, md.Timestamp); err != nil {
		add("metadata", ElemTimestamp, RuleNTIA, true)
	}
	inDeps := map[string]bool{}
	if bom.Dependencies != nil {
		for _, d := range *bom.Dependencies {
			inDeps[d.Ref] = true
		}
	}
	var visit func(c *cdx.Component, isMain bool, depth int)
	visit = func(c *cdx.Component, isMain bool, depth int) {
		ref := c.BOMRef
		if ref == "" {
			ref = c.Name
		}
		if ref == "" {
			ref = "(unnamed component)"
		}
		if c.Supplier == nil || strings.TrimSpace(c.Supplier.Name) == "" {
			add(ref, ElemSupplier, RuleNTIA, false)
		}
		if strings.TrimSpace(c.Name) == "" {
			add(ref, ElemName, RuleNTIA, false)
		}
		if strings.TrimSpace(c.Version) == "" {
			add(ref, ElemVersion, RuleNTIA, false)
		}
		if c.PackageURL == "" && c.CPE == "" && c.SWID == nil {
			add(ref, ElemIdentifier, RuleNTIA, false)
		}
		if c.BOMRef == "" || !inDeps[c.BOMRef] {
			add(ref, ElemDependencies, RuleNTIA, false)
		}
		if !isMain && c.Scope != cdx.ScopeExcluded {
			switch lvl := getProp(c, PropSupportLevel); {
			case lvl == "":
				add(ref, ElemSupportLevel, RuleFDA, false)
			case !validSupportLevel(lvl):
				add(ref, ElemSupportLevel, RuleFDA, true)
			}
			switch eos := getProp(c, PropEndOfSupport); {
			case eos == "":
				add(ref, ElemEndOfSupport, RuleFDA, false)
			default:
				if _, err := time.Parse(dateLayout, eos); err != nil {
					if _, err := time.Parse(time.RFC3339, eos); err != nil {
						add(ref, ElemEndOfSupport, RuleFDA, true)
					}
				}
			}
		}
		if c.Components != nil && depth < 32 {
			for i := range *c.Components {
				visit(&(*c.Components)[i], false, depth+1)
			}
		}
	}
	if md.Component != nil {
		visit(md.Component, true, 0)
	} else {
		add("metadata", ElemPrimary, RuleNTIA, false)
	}
	if bom.Components != nil {
		for i := range *bom.Components {
			visit(&(*bom.Components)[i], false, 0)
		}
	}
	return ps
}
