package provisioning_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeviceFootprint checks that package provisioning, which device
// firmware imports, links no SQL driver, no database/sql, no MQTT client and none of the
// cloud-side subpackages. (net/http arrives through jwx's jwk package for
// JWK fetching; our HTTP server code lives in provisioning/enroll.)
func TestDeviceFootprint(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/openiomt/sdk/provisioning").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		// database/sql/driver (interfaces only) comes with google/uuid.
		if pkg == "database/sql" {
			t.Errorf("provisioning links %s", pkg)
		}
		for _, banned := range []string{"modernc.org/", "github.com/jackc/", "github.com/openiomt/sdk/provisioning/", "github.com/eclipse/paho"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("provisioning links %s", pkg)
			}
		}
	}
}
