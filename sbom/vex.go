package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Limits on govulncheck output beyond its byte size.
const (
	maxVulnMessages = 1_000_000
	maxVulns        = 100_000
	maxTraceFrames  = 10_000
	vexInput        = "govulncheck"
)

// VulnReport is what govulncheck found, reduced to what an SBOM carries.
type VulnReport struct {
	// Vulns, sorted by ID; only vulnerabilities with at least one finding.
	Vulns []Vuln
}

// Vuln is one Go vulnerability database entry with the modules it affects.
type Vuln struct {
	ID        string   // e.g. GO-2024-2887
	Aliases   []string // e.g. CVE-2024-24790, GHSA-…
	Summary   string
	Details   string
	Published string // RFC 3339, may be empty
	Modified  string // RFC 3339, may be empty
	Affected  []Affected
}

// Affected is one module a vulnerability affects and how far govulncheck
// traced it.
type Affected struct {
	Module       string // module path, "stdlib" for the standard library
	Version      string // version in use
	FixedVersion string // first fixed version, may be empty
	// Called reports that a call path reaches a vulnerable symbol.
	Called bool
	// Imported reports that a vulnerable package is imported (Called false).
	Imported bool
}

var osvIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

type govulnMessage struct {
	Config   json.RawMessage `json:"config"`
	Progress json.RawMessage `json:"progress"`
	SBOM     json.RawMessage `json:"SBOM"`
	OSV      *govulnOSV      `json:"osv"`
	Finding  *govulnFinding  `json:"finding"`
}

type govulnOSV struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases"`
	Summary   string   `json:"summary"`
	Details   string   `json:"details"`
	Published string   `json:"published"`
	Modified  string   `json:"modified"`
}

type govulnFinding struct {
	OSV          string        `json:"osv"`
	FixedVersion string        `json:"fixed_version"`
	Trace        []govulnFrame `json:"trace"`
}

type govulnFrame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

// ParseGovulncheck reads the JSON stream `govulncheck -json` prints (any
// scan level). At most maxSize bytes are read; zero means
// [DefaultMaxInputSize]. Errors wrap [ErrMalformedVEX] (as a [*ParseError]
// naming the record) or [ErrTooLarge].
func ParseGovulncheck(r io.Reader, maxSize int64) (*VulnReport, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxInputSize
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, &ParseError{Input: vexInput, Err: fmt.Errorf("%w: read: %v", ErrMalformedVEX, err)}
	}
	if int64(len(data)) > maxSize {
		return nil, &LimitError{What: "govulncheck output size", Limit: maxSize}
	}
	bad := func(rec int, format string, args ...any) error {
		return &ParseError{Input: vexInput, Where: fmt.Sprintf("record %d", rec),
			Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformedVEX}, args...)...)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	osvs := map[string]*govulnOSV{}
	type key struct{ id, module string }
	affected := map[key]*Affected{}
	var order []key
	sawConfig := false
	n := 0
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, bad(n+1, "%v", jsonErr(err))
		}
		n++
		if n > maxVulnMessages {
			return nil, &LimitError{What: "govulncheck records", Limit: maxVulnMessages}
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return nil, bad(n, "not a JSON object")
		}
		var m govulnMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, bad(n, "%v", jsonErr(err))
		}
		if m.Config != nil {
			sawConfig = true
		}
		if m.OSV != nil {
			if !osvIDRE.MatchString(m.OSV.ID) {
				return nil, bad(n, "osv.id is not a vulnerability ID")
			}
			for _, ts := range []string{m.OSV.Published, m.OSV.Modified} {
				if ts != "" {
					if _, err := time.Parse(time.RFC3339, ts); err != nil {
						return nil, bad(n, "osv timestamps must be RFC 3339")
					}
				}
			}
			if len(m.OSV.Aliases) > 1000 {
				return nil, bad(n, "osv.aliases: too many")
			}
			osvs[m.OSV.ID] = m.OSV
		}
		if f := m.Finding; f != nil {
			if !osvIDRE.MatchString(f.OSV) {
				return nil, bad(n, "finding.osv is not a vulnerability ID")
			}
			if len(f.Trace) == 0 || len(f.Trace) > maxTraceFrames || f.Trace[0].Module == "" {
				return nil, bad(n, "finding.trace must start with the vulnerable module")
			}
			top := f.Trace[0]
			k := key{f.OSV, top.Module}
			a := affected[k]
			if a == nil {
				if len(affected) >= maxVulns {
					return nil, &LimitError{What: "govulncheck findings", Limit: maxVulns}
				}
				a = &Affected{Module: top.Module, Version: top.Version}
				affected[k] = a
				order = append(order, k)
			}
			if a.FixedVersion == "" {
				a.FixedVersion = f.FixedVersion
			}
			if top.Function != "" {
				a.Called = true
			}
			if top.Package != "" {
				a.Imported = true
			}
		}
	}
	if n == 0 || (!sawConfig && len(osvs) == 0 && len(affected) == 0) {
		return nil, &ParseError{Input: vexInput, Err: fmt.Errorf("%w: no govulncheck records (run govulncheck -json)", ErrMalformedVEX)}
	}
	byID := map[string]*Vuln{}
	for _, k := range order {
		v := byID[k.id]
		if v == nil {
			v = &Vuln{ID: k.id}
			if o := osvs[k.id]; o != nil {
				v.Aliases = slices.Clone(o.Aliases)
				v.Summary, v.Details = o.Summary, o.Details
				v.Published, v.Modified = o.Published, o.Modified
			}
			byID[k.id] = v
		}
		a := *affected[k]
		if a.Called {
			a.Imported = false
		}
		v.Affected = append(v.Affected, a)
	}
	rep := &VulnReport{}
	for _, v := range byID {
		slices.SortFunc(v.Affected, func(a, b Affected) int { return strings.Compare(a.Module, b.Module) })
		rep.Vulns = append(rep.Vulns, *v)
	}
	slices.SortFunc(rep.Vulns, func(a, b Vuln) int { return strings.Compare(a.ID, b.ID) })
	return rep, nil
}

// cdxVulns converts a report to CycloneDX vulnerabilities. refOf maps a
// module path to its component's bom-ref; vulnerabilities affecting modules
// outside the SBOM are returned as skipped IDs.
func cdxVulns(rep *VulnReport, refOf func(module string) (string, bool)) (out []cdx.Vulnerability, skipped []string) {
	for _, v := range rep.Vulns {
		var affects []cdx.Affects
		called, imported := false, false
		var fixes []string
		for _, a := range v.Affected {
			ref, ok := refOf(a.Module)
			if !ok {
				skipped = append(skipped, v.ID+" ("+a.Module+")")
				continue
			}
			affects = append(affects, cdx.Affects{Ref: ref})
			called = called || a.Called
			imported = imported || a.Imported
			if a.FixedVersion != "" {
				fixes = append(fixes, a.Module+" "+a.FixedVersion)
			}
		}
		if len(affects) == 0 {
			continue
		}
		cv := cdx.Vulnerability{
			BOMRef:      "vuln:" + v.ID,
			ID:          v.ID,
			Source:      &cdx.Source{Name: "Go Vulnerability Database", URL: "https://pkg.go.dev/vuln/" + v.ID},
			Description: v.Summary,
			Detail:      v.Details,
			Published:   v.Published,
			Updated:     v.Modified,
			Affects:     &affects,
		}
		if len(fixes) > 0 {
			cv.Recommendation = "Upgrade to " + strings.Join(fixes, ", ") + "."
		}
		var refs []cdx.VulnerabilityReference
		for _, al := range v.Aliases {
			refs = append(refs, cdx.VulnerabilityReference{ID: al, Source: aliasSource(al)})
		}
		if len(refs) > 0 {
			cv.References = &refs
		}
		switch {
		case called:
			cv.Analysis = &cdx.VulnerabilityAnalysis{State: cdx.IASExploitable,
				Detail: "govulncheck found a call path from this program to a vulnerable symbol."}
		case imported:
			cv.Analysis = &cdx.VulnerabilityAnalysis{State: cdx.IASNotAffected, Justification: cdx.IAJCodeNotReachable,
				Detail: "A vulnerable package is imported, but govulncheck found no call path to a vulnerable symbol."}
		default:
			cv.Analysis = &cdx.VulnerabilityAnalysis{State: cdx.IASNotAffected, Justification: cdx.IAJCodeNotReachable,
				Detail: "The vulnerable module is required, but no vulnerable package is imported."}
		}
		out = append(out, cv)
	}
	return out, skipped
}

func aliasSource(id string) *cdx.Source {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return &cdx.Source{Name: "NVD", URL: "https://nvd.nist.gov/vuln/detail/" + id}
	case strings.HasPrefix(id, "GHSA-"):
		return &cdx.Source{Name: "GitHub Advisory Database", URL: "https://github.com/advisories/" + id}
	}
	return nil
}
