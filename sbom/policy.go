package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"go.yaml.in/yaml/v3"
)

// FDA levels of support (the FDA premarket cybersecurity guidance asks for
// each component's level of support and end-of-support date).
const (
	SupportActivelyMaintained = "actively-maintained"
	SupportNoLongerMaintained = "no-longer-maintained"
	SupportAbandoned          = "abandoned"
	SupportUnknown            = "unknown"
)

const (
	maxRules                   = 10000
	maxPatternLen              = 1024
	maxPolicyStringLen         = 4096
	dateLayout                 = "2006-01-02"
	policyInput                = "policy"
	manifestInput              = "manifest"
	jsonOrYAMLHint             = "JSON or YAML"
	defaultSupplierContactsMax = 100
)

func validSupportLevel(s string) bool {
	switch s {
	case SupportActivelyMaintained, SupportNoLongerMaintained, SupportAbandoned, SupportUnknown:
		return true
	}
	return false
}

// Policy is the device maker's knowledge about components: FDA support
// fields and suppliers by purl glob, the SBOM authors and the maker itself.
//
// A policy file is JSON or YAML (detected by content: JSON starts with "{"):
//
//	authors: [{name: "Acme Medical PSIRT", email: psirt@acme.example}]
//	supplier: {name: Acme Medical Inc., url: [https://acme.example]}
//	rules:
//	  - match: "pkg:golang/golang.org/x/*"
//	    supportLevel: actively-maintained
//	    endOfSupport: "2027-12-31"
//	  - match: "pkg:golang/github.com/google/uuid@*"
//	    supportLevel: actively-maintained
//	    endOfSupport: "2027-06-30"
//	    supplier: {name: Google LLC, url: [https://google.com]}
//
// Rules are tried in order; the first whose glob matches a component's purl
// (qualifiers removed) applies. In globs "*" matches any run of characters,
// "/" included, and "?" one character. Unknown fields are errors.
type Policy struct {
	// Authors of the SBOM data.
	Authors []Contact `json:"authors,omitempty" yaml:"authors,omitempty"`
	// Supplier of the main component: the device maker.
	Supplier *Supplier `json:"supplier,omitempty" yaml:"supplier,omitempty"`
	// Rules in order of precedence.
	Rules []Rule `json:"rules,omitempty" yaml:"rules,omitempty"`
}

// Rule sets FDA fields and optionally the supplier for matching components.
type Rule struct {
	// Match is a glob over the component purl, e.g. "pkg:golang/golang.org/x/*".
	Match string `json:"match" yaml:"match"`
	// SupportLevel is one of the Support… constants. Empty leaves it unset.
	SupportLevel string `json:"supportLevel,omitempty" yaml:"supportLevel,omitempty"`
	// EndOfSupport is a date, YYYY-MM-DD. Empty leaves it unset.
	EndOfSupport string `json:"endOfSupport,omitempty" yaml:"endOfSupport,omitempty"`
	// Supplier overrides the supplier derived from the module path.
	Supplier *Supplier `json:"supplier,omitempty" yaml:"supplier,omitempty"`
}

// ParsePolicy parses a JSON or YAML policy, checking every field. Errors
// wrap [ErrMalformedPolicy] (as a [*ParseError] naming the field) or
// [ErrTooLarge].
func ParsePolicy(data []byte) (*Policy, error) {
	if int64(len(data)) > DefaultMaxPolicySize {
		return nil, &LimitError{What: "policy size", Limit: DefaultMaxPolicySize}
	}
	var p Policy
	if err := decodeStrict(data, &p); err != nil {
		return nil, &ParseError{Input: policyInput, Err: fmt.Errorf("%w: %v", ErrMalformedPolicy, err)}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// decodeStrict decodes JSON (if data starts with "{") or YAML into v,
// rejecting unknown fields and trailing documents.
func decodeStrict(data []byte, v any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return errors.New("empty document")
	}
	if trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return jsonErr(err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return errors.New("trailing data after the JSON document")
		}
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(trimmed))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not valid %s: %s", jsonOrYAMLHint, yamlErr(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return errors.New("more than one YAML document")
	}
	return nil
}

// jsonErr keeps JSON errors free of input values: position and type only.
func jsonErr(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("JSON syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %q has the wrong type (want %s)", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("truncated JSON")
	}
	return errors.New("invalid JSON")
}

// yamlQuoted matches the input values yaml.v3 quotes in its messages.
var yamlQuoted = regexp.MustCompile("`[^`]*`")

// yamlErr keeps YAML errors free of input values: line and field only.
func yamlErr(err error) string {
	return yamlQuoted.ReplaceAllString(firstLine(err.Error()), "value")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (p *Policy) validate() error {
	bad := func(where, format string, args ...any) error {
		return &ParseError{Input: policyInput, Where: where, Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformedPolicy}, args...)...)}
	}
	if len(p.Rules) > maxRules {
		return &LimitError{What: "policy rules", Limit: maxRules}
	}
	for i, a := range p.Authors {
		if err := checkContact(a); err != nil {
			return bad(fmt.Sprintf("authors[%d]", i), "%v", err)
		}
	}
	if p.Supplier != nil {
		if err := checkSupplier(p.Supplier); err != nil {
			return bad("supplier", "%v", err)
		}
	}
	for i, r := range p.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if r.Match == "" || len(r.Match) > maxPatternLen {
			return bad(where+".match", "must be a glob of 1 to %d characters", maxPatternLen)
		}
		if r.SupportLevel != "" && !validSupportLevel(r.SupportLevel) {
			return bad(where+".supportLevel", "must be actively-maintained, no-longer-maintained, abandoned or unknown")
		}
		if r.EndOfSupport != "" {
			if _, err := time.Parse(dateLayout, r.EndOfSupport); err != nil {
				return bad(where+".endOfSupport", "must be a date YYYY-MM-DD")
			}
		}
		if r.Supplier != nil {
			if err := checkSupplier(r.Supplier); err != nil {
				return bad(where+".supplier", "%v", err)
			}
		}
	}
	return nil
}

func checkContact(c Contact) error {
	if c.Name == "" && c.Email == "" {
		return errors.New("needs a name or an email")
	}
	if len(c.Name) > maxPolicyStringLen || len(c.Email) > maxPolicyStringLen {
		return errors.New("too long")
	}
	return nil
}

func checkSupplier(s *Supplier) error {
	if strings.TrimSpace(s.Name) == "" {
		return errors.New("name is required")
	}
	if len(s.Name) > maxPolicyStringLen || len(s.URL) > defaultSupplierContactsMax {
		return errors.New("too long")
	}
	for _, u := range s.URL {
		if len(u) > maxPolicyStringLen || !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
			return errors.New("url must be http(s)")
		}
	}
	return nil
}

// Match returns the first rule whose glob matches purl (qualifiers and
// subpath ignored), or nil. A nil policy matches nothing.
func (p *Policy) Match(purl string) *Rule {
	if p == nil {
		return nil
	}
	purl = stripQualifiers(purl)
	for i := range p.Rules {
		if globMatch(p.Rules[i].Match, purl) {
			return &p.Rules[i]
		}
	}
	return nil
}

func stripQualifiers(purl string) string {
	if i := strings.IndexAny(purl, "?#"); i >= 0 {
		return purl[:i]
	}
	return purl
}

// globMatch matches s against pattern ("*" any run, "?" one byte) in
// O(len(pattern)·len(s)) worst case, without recursion.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func (s *Supplier) cdx() *cdx.OrganizationalEntity {
	if s == nil {
		return nil
	}
	e := &cdx.OrganizationalEntity{Name: s.Name}
	if len(s.URL) > 0 {
		u := append([]string(nil), s.URL...)
		e.URL = &u
	}
	return e
}

// applyFDA fills FDA properties and the policy supplier into c where c does
// not already carry them (manifest values win), reporting whether a rule
// matched.
func applyFDA(p *Policy, c *cdx.Component) bool {
	r := p.Match(c.PackageURL)
	if r == nil && c.PackageURL == "" {
		r = p.Match(c.BOMRef)
	}
	if r == nil {
		return false
	}
	if r.SupportLevel != "" && getProp(c, PropSupportLevel) == "" {
		setProp(c, PropSupportLevel, r.SupportLevel)
	}
	if r.EndOfSupport != "" && getProp(c, PropEndOfSupport) == "" {
		setProp(c, PropEndOfSupport, r.EndOfSupport)
	}
	if r.Supplier != nil && (c.Supplier == nil || getProp(c, PropSupplierDerived) == "true") {
		c.Supplier = r.Supplier.cdx()
		delProp(c, PropSupplierDerived)
	}
	return true
}

func setProp(c *cdx.Component, name, value string) {
	if c.Properties == nil {
		c.Properties = &[]cdx.Property{}
	}
	for i, p := range *c.Properties {
		if p.Name == name {
			(*c.Properties)[i].Value = value
			return
		}
	}
	*c.Properties = append(*c.Properties, prop(name, value))
}

func delProp(c *cdx.Component, name string) {
	if c.Properties == nil {
		return
	}
	ps := (*c.Properties)[:0]
	for _, p := range *c.Properties {
		if p.Name != name {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		c.Properties = nil
		return
	}
	*c.Properties = ps
}

func getProp(c *cdx.Component, name string) string {
	if c.Properties == nil {
		return ""
	}
	for _, p := range *c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}
