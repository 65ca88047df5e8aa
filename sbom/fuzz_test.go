package sbom_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openiomt/sdk/sbom"
)

func seedFile(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

// FuzzParsePolicy: any input gives a policy that matches without panicking,
// or a typed error.
func FuzzParsePolicy(f *testing.F) {
	seedFile(f, "policy.yaml")
	f.Add([]byte(`{"rules": [{"match": "pkg:golang/*", "supportLevel": "abandoned", "endOfSupport": "2020-01-01"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := sbom.ParsePolicy(data)
		if err != nil {
			if !errors.Is(err, sbom.ErrMalformedPolicy) && !errors.Is(err, sbom.ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		p.Match("pkg:golang/github.com/google/uuid@v1.6.0")
	})
}

// FuzzParseManifest: any input gives a valid manifest or a typed error.
func FuzzParseManifest(f *testing.F) {
	seedFile(f, "manifest.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := sbom.ParseManifest(data); err != nil &&
			!errors.Is(err, sbom.ErrMalformedManifest) && !errors.Is(err, sbom.ErrTooLarge) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// FuzzParseGovulncheck: any input gives a report or a typed error, and every
// vulnerability in a report has an ID and at least one affected module.
func FuzzParseGovulncheck(f *testing.F) {
	seedFile(f, "govulncheck.json")
	f.Add([]byte(`{"finding":{"osv":"GO-1","trace":[{"module":"m","function":"F"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := sbom.ParseGovulncheck(bytes.NewReader(data), 1<<20)
		if err != nil {
			if !errors.Is(err, sbom.ErrMalformedVEX) && !errors.Is(err, sbom.ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		for _, v := range rep.Vulns {
			if v.ID == "" || len(v.Affected) == 0 {
				t.Fatalf("vulnerability without ID or affected module: %+v", v)
			}
		}
	})
}

// FuzzDecodeCheck: decoding any document and checking it never panics, and
// a decoded document re-encodes and decodes again.
func FuzzDecodeCheck(f *testing.F) {
	// Small seeds: the fuzzer crawls on the 40 KB golden files.
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"metadata":{"timestamp":"2026-01-02T03:04:05Z","authors":[{"name":"a"}],"component":{"bom-ref":"m","type":"application","name":"m","version":"1","purl":"pkg:golang/m@1","supplier":{"name":"s"}}},"components":[{"bom-ref":"pkg:golang/x@v1","type":"library","name":"x","version":"v1","purl":"pkg:golang/x@v1","supplier":{"name":"s"},"properties":[{"name":"openiomt:fda:supportLevel","value":"unknown"},{"name":"cdx:lifecycle:milestone:endOfSupport","value":"2027-01-01"}]}],"dependencies":[{"ref":"m","dependsOn":["pkg:golang/x@v1"]},{"ref":"pkg:golang/x@v1"}]}`))
	f.Add([]byte(`<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6" version="1"><metadata><timestamp>2026-01-02T03:04:05Z</timestamp><component type="application" bom-ref="m"><name>m</name><version>1</version></component></metadata><components><component type="library" bom-ref="x"><name>x</name><properties><property name="openiomt:fda:supportLevel">unknown</property></properties></component></components><dependencies><dependency ref="m"><dependency ref="x"/></dependency></dependencies></bom>`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		bom, err := sbom.Decode(bytes.NewReader(data), 1<<20)
		if err != nil {
			if !errors.Is(err, sbom.ErrMalformedBOM) && !errors.Is(err, sbom.ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		sbom.Check(bom)
	})
}
