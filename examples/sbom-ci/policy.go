// Package sbomci holds the device maker's SBOM policy used by the sample CI
// job (sbom.yml) and by the example stack's portal, which shows the SBOM of
// the running firmware with the same FDA fields.
package sbomci

import _ "embed"

// Policy is policy.yaml: FDA support levels, end-of-support dates and
// suppliers by purl glob. Parse it with sbom.ParsePolicy.
//
//go:embed policy.yaml
var Policy []byte
