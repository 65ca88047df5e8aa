package sbomci

import (
	"testing"

	"github.com/openiomt/sdk/sbom"
)

// TestPolicyParses keeps the sample policy valid for the sbom package the CI
// job and the portal feed it to.
func TestPolicyParses(t *testing.T) {
	p, err := sbom.ParsePolicy(Policy)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) == 0 || p.Supplier == nil || len(p.Authors) == 0 {
		t.Fatalf("policy incomplete: %+v", p)
	}
}
