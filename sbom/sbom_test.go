package sbom_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/openiomt/sdk/sbom"
)

func loadPolicy(t *testing.T) *sbom.Policy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sbom.ParsePolicy(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadManifest(t *testing.T) *sbom.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sbom.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadVulns(t *testing.T) *sbom.VulnReport {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "govulncheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := sbom.ParseGovulncheck(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fullConfig is the fixture configuration with policy, manifest and VEX.
func fullConfig(t *testing.T) sbom.Config {
	cfg := fixtureConfig()
	cfg.Policy = loadPolicy(t)
	cfg.Manifest = loadManifest(t)
	cfg.Vulnerabilities = loadVulns(t)
	return cfg
}

func component(t *testing.T, bom *cdx.BOM, ref string) *cdx.Component {
	t.Helper()
	for i := range *bom.Components {
		if (*bom.Components)[i].BOMRef == ref {
			return &(*bom.Components)[i]
		}
	}
	t.Fatalf("component %s not in the SBOM", ref)
	return nil
}

func propOf(c *cdx.Component, name string) string {
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

// TestGoldenFixture compares the whole SBOM of the fixture module with
// golden files. Licence detection and the module cache's zip hashes depend
// on what the local module cache holds, so they are off here (and covered by
// TestFixtureContent); everything else comes from go.mod, go.sum and the
// inputs in testdata.
func TestGoldenFixture(t *testing.T) {
	t.Parallel()
	cfg := fullConfig(t)
	cfg.SkipLicenses = true
	cfg.ModCache = t.TempDir()
	res := fromFixture(t, cfg)
	for _, tc := range []struct {
		name string
		f    sbom.Format
		spec sbom.SpecVersion
	}{
		{"fixture-1.6.json", sbom.FormatJSON, sbom.Spec16},
		{"fixture-1.5.json", sbom.FormatJSON, sbom.Spec15},
		{"fixture-1.6.xml", sbom.FormatXML, sbom.Spec16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, encode(t, res, tc.f, tc.spec))
		})
	}
}

func TestFixtureContent(t *testing.T) {
	t.Parallel()
	res := fromFixture(t, fullConfig(t))
	bom := res.BOM
	main := bom.Metadata.Component
	if main.Name != "example.com/bpmonitor" || main.Version != "v1.4.2" || main.Supplier.Name != "Acme Medical Inc." {
		t.Errorf("main component = %s %s supplied by %v", main.Name, main.Version, main.Supplier)
	}
	std := component(t, bom, "pkg:golang/stdlib@v1.25.0")
	if std.Name != "stdlib" || std.Scope != cdx.ScopeRequired {
		t.Errorf("stdlib component: %+v", std)
	}
	uuid := component(t, bom, "pkg:golang/github.com/google/uuid@v1.6.0")
	// go.sum: github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=
	h1, _ := base64.StdEncoding.DecodeString("NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=")
	if uuid.Hashes == nil || (*uuid.Hashes)[0].Value != hex.EncodeToString(h1) {
		t.Errorf("uuid hash = %+v, want the go.sum h1 digest in hex", uuid.Hashes)
	}
	if uuid.Licenses == nil || (*uuid.Licenses)[0].License.ID != "BSD-3-Clause" {
		t.Errorf("uuid licence not detected: %+v", uuid.Licenses)
	}
	if uuid.Supplier.Name != "Google LLC" || propOf(uuid, sbom.PropSupplierDerived) != "" {
		t.Errorf("uuid supplier should come from the policy: %+v", uuid.Supplier)
	}
	if propOf(uuid, sbom.PropSupportLevel) != "actively-maintained" || propOf(uuid, sbom.PropEndOfSupport) != "2028-12-31" {
		t.Errorf("uuid FDA fields: %+v", uuid.Properties)
	}
	if uuid.ExternalReferences == nil || (*uuid.ExternalReferences)[0].URL != "https://github.com/google/uuid" {
		t.Errorf("uuid VCS reference: %+v", uuid.ExternalReferences)
	}
	cobra := component(t, bom, "pkg:golang/github.com/spf13/cobra@v1.10.2")
	if cobra.Supplier.Name != "spf13" || propOf(cobra, sbom.PropSupplierDerived) != "true" {
		t.Errorf("cobra supplier should be derived from the path: %+v", cobra.Supplier)
	}
	if s := component(t, bom, "pkg:golang/go.uber.org/goleak@v1.3.0").Scope; s != cdx.ScopeOptional {
		t.Errorf("goleak (test only) scope = %q, want optional", s)
	}
	if s := component(t, bom, "pkg:golang/github.com/inconshreveable/mousetrap@v1.1.0").Scope; s != cdx.ScopeExcluded {
		t.Errorf("mousetrap (windows only, GOOS=linux) scope = %q, want excluded", s)
	}
	// The graph: cobra depends on pflag; main depends on stdlib and the manifest.
	deps := map[string][]string{}
	for _, d := range *bom.Dependencies {
		if d.Dependencies != nil {
			deps[d.Ref] = *d.Dependencies
		} else {
			deps[d.Ref] = nil
		}
	}
	if !slices.Contains(deps[cobra.BOMRef], "pkg:golang/github.com/spf13/pflag@v1.0.9") {
		t.Errorf("cobra dependsOn = %v", deps[cobra.BOMRef])
	}
	for _, want := range []string{"pkg:golang/stdlib@v1.25.0", "pkg:github/mcu-tools/mcuboot@v2.1.0", uuid.BOMRef} {
		if !slices.Contains(deps[main.BOMRef], want) {
			t.Errorf("main dependsOn lacks %s: %v", want, deps[main.BOMRef])
		}
	}
	if _, ok := deps["pkg:golang/github.com/google/uuid@v1.6.0"]; !ok {
		t.Error("leaf component has no dependencies entry")
	}
	// Manifest components keep their own FDA fields; the policy fills gaps.
	zephyr := component(t, bom, "cpe:2.3:o:zephyrproject:zephyr:3.7.0:*:*:*:*:*:*:*")
	if propOf(zephyr, sbom.PropEndOfSupport) != "2029-07-31" || zephyr.Type != cdx.ComponentTypeOS {
		t.Errorf("zephyr: %+v", zephyr)
	}
	mcuboot := component(t, bom, "pkg:github/mcu-tools/mcuboot@v2.1.0")
	if propOf(mcuboot, sbom.PropEndOfSupport) != "2029-06-30" {
		t.Errorf("mcuboot should get its FDA fields from the policy: %+v", mcuboot.Properties)
	}
	if len(res.Unmatched) != 0 {
		t.Errorf("unmatched = %v, want none (the policy has a catch-all)", res.Unmatched)
	}
	if probs := sbom.Check(bom); len(probs) != 0 {
		t.Errorf("Check on a complete SBOM: %v", probs)
	}
}

func TestVEX(t *testing.T) {
	t.Parallel()
	res := fromFixture(t, fullConfig(t))
	if res.BOM.Vulnerabilities == nil {
		t.Fatal("no vulnerabilities")
	}
	got := map[string]cdx.Vulnerability{}
	for _, v := range *res.BOM.Vulnerabilities {
		got[v.ID] = v
	}
	for id, want := range map[string]struct {
		ref   string
		state cdx.ImpactAnalysisState
	}{
		"GO-2099-0001": {"pkg:golang/stdlib@v1.25.0", cdx.IASExploitable},
		"GO-2099-0002": {"pkg:golang/github.com/spf13/cobra@v1.10.2", cdx.IASNotAffected},
		"GO-2099-0003": {"pkg:golang/github.com/spf13/pflag@v1.0.9", cdx.IASNotAffected},
	} {
		v, ok := got[id]
		if !ok {
			t.Errorf("%s missing", id)
			continue
		}
		if (*v.Affects)[0].Ref != want.ref || v.Analysis.State != want.state {
			t.Errorf("%s: affects %s state %s, want %s %s", id, (*v.Affects)[0].Ref, v.Analysis.State, want.ref, want.state)
		}
		if want.state == cdx.IASNotAffected && v.Analysis.Justification != cdx.IAJCodeNotReachable {
			t.Errorf("%s: justification %q", id, v.Analysis.Justification)
		}
	}
	if v := got["GO-2099-0001"]; v.Recommendation == "" || v.References == nil || len(*v.References) != 2 {
		t.Errorf("GO-2099-0001 lacks recommendation or alias references: %+v", v)
	}
	if _, ok := got["GO-2099-0004"]; ok || len(res.SkippedVulns) != 1 {
		t.Errorf("a finding for a module outside the SBOM must be skipped and reported: %v", res.SkippedVulns)
	}
}

func TestReproducibleTwiceIdentical(t *testing.T) {
	t.Parallel()
	cfg := fullConfig(t)
	cfg.SourceDate = cfg.SourceDate.AddDate(0, 0, 0)
	a := encode(t, fromFixture(t, cfg), sbom.FormatJSON, sbom.Spec16)
	b := encode(t, fromFixture(t, cfg), sbom.FormatJSON, sbom.Spec16)
	if !bytes.Equal(a, b) {
		t.Fatalf("reproducible output differs between runs:\n%s", firstDiff(a, b))
	}
	cfg.SourceDate = cfg.SourceDate.AddDate(0, 0, 1)
	c := encode(t, fromFixture(t, cfg), sbom.FormatJSON, sbom.Spec16)
	var x, y struct{ SerialNumber string }
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(c, &y)
	if x.SerialNumber == y.SerialNumber {
		t.Error("serial number does not depend on the content")
	}
}

func TestNonReproducibleHasTimestampAndRandomSerial(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig()
	cfg.Reproducible = false
	cfg.SkipLicenses = true
	r1, r2 := fromFixture(t, cfg), fromFixture(t, cfg)
	if r1.BOM.Metadata.Timestamp == "" || r1.BOM.SerialNumber == r2.BOM.SerialNumber {
		t.Errorf("timestamp %q, serials %s %s", r1.BOM.Metadata.Timestamp, r1.BOM.SerialNumber, r2.BOM.SerialNumber)
	}
}

func TestSchemaFixture(t *testing.T) {
	t.Parallel()
	res := fromFixture(t, fullConfig(t))
	validate(t, "1.6", encode(t, res, sbom.FormatJSON, sbom.Spec16))
	validate(t, "1.5", encode(t, res, sbom.FormatJSON, sbom.Spec15))
}

// TestSchemaThisRepository runs mod mode over the SDK itself: the larger
// module set.
func TestSchemaThisRepository(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	res, err := sbom.FromModule(context.Background(), root, sbom.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(*res.BOM.Components); n < 10 {
		t.Errorf("only %d components for the SDK", n)
	}
	component(t, res.BOM, "pkg:golang/github.com/CycloneDX/cyclonedx-go@v0.12.0")
	validate(t, "1.6", encode(t, res, sbom.FormatJSON, sbom.Spec16))
	validate(t, "1.5", encode(t, res, sbom.FormatJSON, sbom.Spec15))
	xmlOut := encode(t, res, sbom.FormatXML, sbom.Spec16)
	back, err := sbom.Decode(bytes.NewReader(xmlOut), 0)
	if err != nil || len(*back.Components) != len(*res.BOM.Components) {
		t.Fatalf("XML round trip: %v", err)
	}
}

// buildBinary compiles pkg of the module in dir into a temporary file.
func buildBinary(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// TestSchemaLargeModuleSet runs mod mode over testdata/large, a throwaway
// module requiring 15 modules that pull in about 130.
func TestSchemaLargeModuleSet(t *testing.T) {
	t.Parallel()
	res, err := sbom.FromModule(context.Background(), filepath.Join("testdata", "large"), sbom.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(*res.BOM.Components); n < 100 {
		t.Errorf("only %d components", n)
	}
	validate(t, "1.6", encode(t, res, sbom.FormatJSON, sbom.Spec16))
	validate(t, "1.5", encode(t, res, sbom.FormatJSON, sbom.Spec15))
}

// TestSchemaBinary runs bin mode over the fixture's binary and over the
// iomt CLI of this repository.
func TestSchemaBinary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dir, pkg, want string }{
		{filepath.Join("testdata", "fixture"), ".", "pkg:golang/github.com/spf13/cobra@v1.10.2"},
		{"..", "./cmd/iomt", "pkg:golang/github.com/CycloneDX/cyclonedx-go@v0.12.0"},
	} {
		bin := buildBinary(t, tc.dir, tc.pkg)
		res, err := sbom.FromBinary(context.Background(), bin, sbom.Config{})
		if err != nil {
			t.Fatal(err)
		}
		main := res.BOM.Metadata.Component
		raw, _ := os.ReadFile(bin)
		sum := sha256.Sum256(raw)
		if main.Hashes == nil || (*main.Hashes)[0].Value != hex.EncodeToString(sum[:]) {
			t.Errorf("binary SHA-256 wrong: %+v", main.Hashes)
		}
		if propOf(main, sbom.PropBuildPrefix+"GOOS") == "" || propOf(main, sbom.PropBuildPrefix+"CGO_ENABLED") != "0" {
			t.Errorf("build settings missing: %+v", main.Properties)
		}
		c := component(t, res.BOM, tc.want)
		if c.Hashes == nil || c.Scope != cdx.ScopeRequired {
			t.Errorf("%s: hash %v scope %q", c.BOMRef, c.Hashes, c.Scope)
		}
		if res.BOM.Metadata.Lifecycles == nil || (*res.BOM.Metadata.Lifecycles)[0].Phase != cdx.LifecyclePhaseBuild {
			t.Error("bin mode lifecycle phase is not build")
		}
		validate(t, "1.6", encode(t, res, sbom.FormatJSON, sbom.Spec16))
		validate(t, "1.5", encode(t, res, sbom.FormatJSON, sbom.Spec15))
	}
}

func TestCheckReportsMissing(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig()
	cfg.SkipLicenses = true
	cfg.SourceDate = cfg.SourceDate.AddDate(0, 0, 0)
	res := fromFixture(t, cfg)
	probs := sbom.Check(res.BOM)
	has := func(ref, elem string) bool {
		for _, p := range probs {
			if p.Ref == ref && p.Element == elem {
				return true
			}
		}
		return false
	}
	if !has("metadata", sbom.ElemAuthor) {
		t.Error("missing author not reported")
	}
	if !has("pkg:golang/github.com/google/uuid@v1.6.0", sbom.ElemSupportLevel) || !has("pkg:golang/stdlib@v1.25.0", sbom.ElemEndOfSupport) {
		t.Error("missing FDA fields not reported per component")
	}
	if has("metadata", sbom.ElemTimestamp) {
		t.Error("SourceDate timestamp not honoured")
	}
	if has("pkg:golang/github.com/inconshreveable/mousetrap@v1.1.0", sbom.ElemSupportLevel) {
		t.Error("FDA fields demanded of an excluded (not shipped) component")
	}
	if len(res.Unmatched) == 0 {
		t.Error("components without a policy rule not reported in Result.Unmatched")
	}
	// Strip elements and expect each NTIA element reported.
	c := &(*res.BOM.Components)[0]
	c.Supplier, c.Version, c.PackageURL = nil, "", ""
	res.BOM.Metadata.Timestamp = "yesterday"
	probs = sbom.Check(res.BOM)
	for _, elem := range []string{sbom.ElemSupplier, sbom.ElemVersion, sbom.ElemIdentifier} {
		if !has(c.BOMRef, elem) {
			t.Errorf("%s not reported", elem)
		}
	}
	if !has("metadata", sbom.ElemTimestamp) {
		t.Error("invalid timestamp not reported")
	}
}

func TestMalformedGoMod(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/x\n\nrequire (\n\tgithub.com/google/uuid\n)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := sbom.FromModule(context.Background(), dir, sbom.Config{})
	var ge *sbom.GoCommandError
	if !errors.Is(err, sbom.ErrGoCommand) || !errors.As(err, &ge) || !strings.Contains(err.Error(), "go.mod") {
		t.Fatalf("err = %v, want a GoCommandError naming go.mod", err)
	}
	if _, err := sbom.FromModule(context.Background(), t.TempDir(), sbom.Config{}); !errors.Is(err, sbom.ErrNoModule) {
		t.Fatalf("directory without go.mod: %v", err)
	}
}

func TestBinaryWithoutBuildInfo(t *testing.T) {
	f := filepath.Join(t.TempDir(), "not-a-binary")
	if err := os.WriteFile(f, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := sbom.FromBinary(context.Background(), f, sbom.Config{}); !errors.Is(err, sbom.ErrNoBuildInfo) {
		t.Fatalf("err = %v, want ErrNoBuildInfo", err)
	}
	if _, err := sbom.FromBinary(context.Background(), "/bin/sh", sbom.Config{}); !errors.Is(err, sbom.ErrNoBuildInfo) {
		t.Fatalf("non-Go binary: err = %v, want ErrNoBuildInfo", err)
	}
}

func TestCorruptGovulncheck(t *testing.T) {
	for name, in := range map[string]string{
		"empty":         "",
		"truncated":     `{"finding": {"osv": "GO-2099-0001", "trace": [`,
		"not an object": `[1, 2, 3]`,
		"empty trace":   `{"finding": {"osv": "GO-2099-0001", "trace": []}}`,
		"bad id":        `{"finding": {"osv": "../../etc", "trace": [{"module": "stdlib"}]}}`,
		"bad time":      `{"osv": {"id": "GO-1", "published": "yesterday"}}`,
		"wrong type":    `{"finding": {"osv": 7}}`,
		"garbage":       "GO-2099-0001 stdlib",
	} {
		_, err := sbom.ParseGovulncheck(strings.NewReader(in), 0)
		var pe *sbom.ParseError
		if !errors.Is(err, sbom.ErrMalformedVEX) || !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a ParseError wrapping ErrMalformedVEX", name, err)
		}
	}
	big := strings.Repeat(" ", 1025)
	if _, err := sbom.ParseGovulncheck(strings.NewReader(big), 1024); !errors.Is(err, sbom.ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
}

func TestBadPolicy(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field json": `{"rules": [{"match": "*", "support_level": "abandoned"}]}`,
		"unknown field yaml": "rules:\n  - match: '*'\n    eol: 2020-01-01\n",
		"bad level":          `{"rules": [{"match": "*", "supportLevel": "maybe"}]}`,
		"bad date":           `{"rules": [{"match": "*", "endOfSupport": "31/12/2027"}]}`,
		"empty match":        `{"rules": [{"supportLevel": "abandoned"}]}`,
		"supplier no name":   `{"supplier": {"url": ["https://x.example"]}}`,
		"supplier bad url":   `{"supplier": {"name": "x", "url": ["javascript:alert(1)"]}}`,
		"syntax":             `{"rules": [`,
		"two yaml docs":      "rules: []\n---\nrules: []\n",
		"empty":              "",
		"trailing json":      `{} {}`,
	} {
		_, err := sbom.ParsePolicy([]byte(in))
		var pe *sbom.ParseError
		if !errors.Is(err, sbom.ErrMalformedPolicy) || !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a ParseError wrapping ErrMalformedPolicy", name, err)
		}
	}
	if _, err := sbom.ParsePolicy(make([]byte, sbom.DefaultMaxPolicySize+1)); !errors.Is(err, sbom.ErrTooLarge) {
		t.Errorf("oversize policy: %v", err)
	}
}

func TestBadManifest(t *testing.T) {
	ok := `{"type": "firmware", "name": "x", "version": "1", "purl": "pkg:generic/x@1"}`
	for name, in := range map[string]string{
		"no identifier": `{"components": [{"type": "firmware", "name": "x", "version": "1"}]}`,
		"bad type":      `{"components": [{"type": "toaster", "name": "x", "version": "1", "purl": "pkg:generic/x@1"}]}`,
		"no version":    `{"components": [{"type": "firmware", "name": "x", "purl": "pkg:generic/x@1"}]}`,
		"bad purl":      `{"components": [{"type": "firmware", "name": "x", "version": "1", "purl": "x@1"}]}`,
		"bad hash":      `{"components": [{"type": "firmware", "name": "x", "version": "1", "purl": "pkg:generic/x@1", "hashes": [{"alg": "SHA-256", "content": "abcd"}]}]}`,
		"duplicate":     `{"components": [` + ok + `,` + ok + `]}`,
		"dangling dep":  `{"components": [{"type": "firmware", "name": "x", "version": "1", "purl": "pkg:generic/x@1", "dependsOn": ["pkg:generic/y@1"]}]}`,
		"unknown field": `{"components": [], "extra": 1}`,
	} {
		_, err := sbom.ParseManifest([]byte(in))
		if !errors.Is(err, sbom.ErrMalformedManifest) {
			t.Errorf("%s: err = %v, want ErrMalformedManifest", name, err)
		}
	}
}

func TestPolicyGlob(t *testing.T) {
	p, err := sbom.ParsePolicy([]byte(`{"rules": [
		{"match": "pkg:golang/golang.org/x/*", "supportLevel": "actively-maintained"},
		{"match": "pkg:golang/github.com/?oogle/uuid@v1.*", "supportLevel": "abandoned"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for purl, want := range map[string]string{
		"pkg:golang/golang.org/x/text@v0.41.0?type=module": "actively-maintained",
		"pkg:golang/github.com/google/uuid@v1.6.0":         "abandoned",
		"pkg:golang/github.com/google/uuid@v2.0.0":         "",
		"pkg:golang/golang.org/y/text@v0.41.0":             "",
	} {
		got := ""
		if r := p.Match(purl); r != nil {
			got = r.SupportLevel
		}
		if got != want {
			t.Errorf("Match(%s) = %q, want %q", purl, got, want)
		}
	}
	// A hostile pattern costs at most len(pattern)*len(purl) steps.
	hostile := &sbom.Policy{Rules: []sbom.Rule{{Match: strings.Repeat("*a", 500) + "b"}}}
	if hostile.Match(strings.Repeat("a", 4000)) != nil {
		t.Error("hostile pattern matched")
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"text":      "hello",
		"bad json":  `{"bomFormat": `,
		"not cdx":   `{"bomFormat": "SPDX", "specVersion": "1.6"}`,
		"bad xml":   `<bom><components>`,
		"wrong typ": `{"components": 3}`,
	} {
		if _, err := sbom.Decode(strings.NewReader(in), 0); !errors.Is(err, sbom.ErrMalformedBOM) {
			t.Errorf("%s: err = %v, want ErrMalformedBOM", name, err)
		}
	}
}

func TestGoPURL(t *testing.T) {
	for _, tc := range [][3]string{
		{"github.com/BurntSushi/toml", "v1.2.0", "pkg:golang/github.com/BurntSushi/toml@v1.2.0"},
		{"github.com/docker/docker", "v20.10.7+incompatible", "pkg:golang/github.com/docker/docker@v20.10.7%2Bincompatible"},
		{"stdlib", "v1.25.0", "pkg:golang/stdlib@v1.25.0"},
		{"example.com/m", "(devel)", "pkg:golang/example.com/m"},
	} {
		if got := sbom.GoPURL(tc[0], tc[1]); got != tc[2] {
			t.Errorf("GoPURL(%s, %s) = %s, want %s", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestUnsupportedOutput(t *testing.T) {
	t.Parallel()
	res := fromFixture(t, func() sbom.Config { c := fixtureConfig(); c.SkipLicenses = true; return c }())
	if err := sbom.Encode(&bytes.Buffer{}, res.BOM, "yaml", ""); !errors.Is(err, sbom.ErrUnsupported) {
		t.Errorf("format yaml: %v", err)
	}
	if err := sbom.Encode(&bytes.Buffer{}, res.BOM, "", "1.4"); !errors.Is(err, sbom.ErrUnsupported) {
		t.Errorf("spec 1.4: %v", err)
	}
}

func TestProgressAndContext(t *testing.T) {
	t.Parallel()
	var progress bytes.Buffer
	cfg := fixtureConfig()
	cfg.Progress = &progress
	fromFixture(t, cfg)
	if !strings.Contains(progress.String(), "sbom: licences") {
		t.Errorf("no licence progress: %q", progress.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sbom.FromModule(ctx, filepath.Join("testdata", "fixture"), fixtureConfig()); err == nil {
		t.Error("cancelled context: no error")
	}
}

// TestErrorsNameFieldsNotValues: a policy or govulncheck file is not
// expected to hold PHI, but error text must still never echo input values.
func TestErrorsNameFieldsNotValues(t *testing.T) {
	const secret = "JaneDoe19700101"
	for _, in := range []string{
		`{"authors": "` + secret + `"}`,
		"authors: " + secret + "\n",
		"rules:\n  - match: '*'\n    supportLevel: " + secret + "\n",
		`{"rules": [{"match": "*", "endOfSupport": "` + secret + `"}]}`,
	} {
		_, err := sbom.ParsePolicy([]byte(in))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("error %v echoes the input value", err)
		}
	}
	_, err := sbom.ParseGovulncheck(strings.NewReader(`{"finding": {"osv": "`+secret+`!"}}`), 0)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v echoes the input value", err)
	}
}
