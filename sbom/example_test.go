package sbom_test

import (
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/openiomt/sdk/sbom"
)

func ExampleGoPURL() {
	fmt.Println(sbom.GoPURL("github.com/google/uuid", "v1.6.0"))
	fmt.Println(sbom.GoPURL("stdlib", "v1.25.0"))
	fmt.Println(sbom.GoPURL("github.com/docker/docker", "v20.10.7+incompatible"))
	// Output:
	// pkg:golang/github.com/google/uuid@v1.6.0
	// pkg:golang/stdlib@v1.25.0
	// pkg:golang/github.com/docker/docker@v20.10.7%2Bincompatible
}

func ExamplePolicy_Match() {
	policy, err := sbom.ParsePolicy([]byte(`
rules:
  - match: "pkg:golang/golang.org/x/*"
    supportLevel: actively-maintained
    endOfSupport: "2027-12-31"
  - match: "pkg:golang/*"
    supportLevel: unknown
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, purl := range []string{"pkg:golang/golang.org/x/text@v0.41.0", "pkg:golang/github.com/google/uuid@v1.6.0"} {
		r := policy.Match(purl)
		fmt.Println(purl, r.SupportLevel, r.EndOfSupport)
	}
	// Output:
	// pkg:golang/golang.org/x/text@v0.41.0 actively-maintained 2027-12-31
	// pkg:golang/github.com/google/uuid@v1.6.0 unknown
}

func ExampleParseGovulncheck() {
	out := `{"config": {"scanner_name": "govulncheck", "scan_level": "symbol"}}
{"osv": {"id": "GO-2099-0001", "aliases": ["CVE-2099-1111"], "summary": "example"}}
{"finding": {"osv": "GO-2099-0001", "fixed_version": "v1.25.1", "trace": [{"module": "stdlib", "version": "v1.25.0", "package": "net/url", "function": "Parse"}]}}`
	rep, err := sbom.ParseGovulncheck(strings.NewReader(out), 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range rep.Vulns {
		for _, a := range v.Affected {
			fmt.Println(v.ID, v.Aliases, a.Module, a.Version, "called:", a.Called, "fixed in", a.FixedVersion)
		}
	}
	// Output:
	// GO-2099-0001 [CVE-2099-1111] stdlib v1.25.0 called: true fixed in v1.25.1
}

func ExampleCheck() {
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{
		Timestamp: "2026-01-02T03:04:05Z",
		Authors:   &[]cdx.OrganizationalContact{{Name: "Acme Medical PSIRT"}},
		Component: &cdx.Component{BOMRef: "app", Type: cdx.ComponentTypeApplication, Name: "bpmonitor",
			Version: "1.4.2", PackageURL: "pkg:generic/acme/bpmonitor@1.4.2", Supplier: &cdx.OrganizationalEntity{Name: "Acme"}},
	}
	bom.Components = &[]cdx.Component{{BOMRef: "pkg:golang/github.com/google/uuid@v1.6.0", Type: cdx.ComponentTypeLibrary,
		Name: "github.com/google/uuid", Version: "v1.6.0", PackageURL: "pkg:golang/github.com/google/uuid@v1.6.0"}}
	bom.Dependencies = &[]cdx.Dependency{{Ref: "app", Dependencies: &[]string{"pkg:golang/github.com/google/uuid@v1.6.0"}}}
	for _, p := range sbom.Check(bom) {
		fmt.Println(p)
	}
	// Output:
	// ntia: pkg:golang/github.com/google/uuid@v1.6.0: supplier missing
	// ntia: pkg:golang/github.com/google/uuid@v1.6.0: dependency relationships missing
	// fda: pkg:golang/github.com/google/uuid@v1.6.0: support level missing
	// fda: pkg:golang/github.com/google/uuid@v1.6.0: end-of-support date missing
}
