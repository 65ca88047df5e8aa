// Package sbom writes CycloneDX software bills of materials for Go modules
// and Go binaries, with the fields a medical-device maker needs for an FDA
// premarket submission and the NTIA minimum elements, and checks SBOMs for
// them.
//
// # Modes
//
// [FromModule] (mod mode) reads a module directory: the whole module graph
// from `go list -m -json all` and `go mod graph`, the main module as
// metadata.component, and each module's scope: required when a non-test
// package of the main module links it, optional when only tests need it,
// excluded when it is in the graph but provides no package. The Go
// toolchain is the component "stdlib", pkg:golang/stdlib@v1.x.y, as the Go
// vulnerability database names it.
//
// [FromBinary] (bin mode) reads the build information of a compiled binary
// (debug/buildinfo): the modules actually linked, build settings (GOOS,
// GOARCH, CGO_ENABLED, vcs.revision, vcs.time, vcs.modified…) as
// openiomt:go:build:* properties, and the binary's own SHA-256.
//
// # Components
//
// Every Go module carries its purl (pkg:golang/PATH@VERSION; also its
// bom-ref), version, SHA-256 hash (the go.sum "h1:" digest, which is a
// SHA-256 and verifiable against sum.golang.org; the h1 string itself is the
// property openiomt:go:h1), licences detected in the module cache with
// github.com/google/licensecheck (SPDX IDs; a licence text that is not
// recognised stays unknown and is named in openiomt:license:unrecognizedFiles),
// a supplier (from the [Policy], else derived from the module path and marked
// openiomt:supplier:derived) and a VCS reference. Non-Go components
// (bootloader, RTOS, C libraries) come from a [Manifest].
//
// # FDA fields and vulnerabilities
//
// A [Policy] assigns, by purl glob, the FDA level of support (property
// openiomt:fda:supportLevel) and end-of-support date (property
// cdx:lifecycle:milestone:endOfSupport); components no rule matches are
// listed in [Result.Unmatched]. [ParseGovulncheck] reads `govulncheck -json`
// output; each vulnerability becomes a vulnerabilities[] entry affecting the
// module's component, "exploitable" when a call path reaches a vulnerable
// symbol and otherwise "not_affected" with justification
// "code_not_reachable".
//
// # Output and checks
//
// [Encode] writes CycloneDX 1.6 (default) or 1.5, JSON or XML. With
// [Config.Reproducible] the output depends on the inputs only: no timestamp
// unless [Config.SourceDate] is set, and a serial number derived from the
// content. [Check] lists every missing NTIA minimum element and FDA field by
// component.
//
// # Limits and errors
//
// Inputs are bounded by [Limits]; errors wrap the Err… sentinels and never
// quote input values.
package sbom
