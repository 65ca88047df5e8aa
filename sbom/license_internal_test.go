package sbom

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/licensecheck"
)

// TestLicenseFastPathAgrees checks, on every licence file at the root of a
// module in the local module cache, that the common-licence scanner plus
// fallback gives the same licences as licensecheck's full scanner.
func TestLicenseFastPathAgrees(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skip("no go command")
	}
	cache := strings.TrimSpace(string(out))
	var files []string
	_ = filepath.WalkDir(cache, func(path string, d os.DirEntry, err error) error {
		if err != nil || len(files) >= 400 {
			return filepath.SkipDir
		}
		if d.IsDir() && filepath.Base(path) == "cache" && filepath.Dir(path) == cache {
			return filepath.SkipDir
		}
		if d.IsDir() && strings.Contains(filepath.Base(path), "@") {
			entries, _ := os.ReadDir(path)
			for _, e := range entries {
				if e.Type().IsRegular() && isLicenseFile(e.Name()) {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
			return filepath.SkipDir
		}
		return nil
	})
	if len(files) < 5 {
		t.Skipf("only %d licence files in the module cache", len(files))
	}
	ids := func(c licensecheck.Coverage) []string {
		if c.Percent < licenseCoverageMin {
			return nil
		}
		var out []string
		for _, m := range c.Match {
			out = append(out, m.ID)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if fast, full := ids(scanLicenseText(text)), ids(licensecheck.Scan(text)); !slices.Equal(fast, full) {
			t.Errorf("%s: fast path %v, full scanner %v", f, fast, full)
		}
	}
	t.Logf("%d licence files agree", len(files))
}

// TestLicenseIDsAreSPDX: every licensecheck ID is either in the SPDX list of
// the CycloneDX schema or written as a name (nonSPDX), so output validates.
func TestLicenseIDsAreSPDX(t *testing.T) {
	var dir string
	wd, _ := os.Getwd()
	for d := wd; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "shared", "schemas", "cyclonedx", "spdx.schema.json")); err == nil {
			dir = filepath.Join(d, "shared", "schemas", "cyclonedx")
			break
		}
	}
	if dir == "" {
		t.Skip("spdx.schema.json not found")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "spdx.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct{ Enum []string }
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	spdx := map[string]bool{}
	for _, id := range schema.Enum {
		spdx[id] = true
	}
	for _, l := range licensecheck.BuiltinLicenses() {
		if spdx[l.ID] == nonSPDX[l.ID] {
			t.Errorf("licence %s: in SPDX list %v, in nonSPDX %v", l.ID, spdx[l.ID], nonSPDX[l.ID])
		}
	}
}
