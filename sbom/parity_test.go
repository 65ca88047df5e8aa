package sbom_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openiomt/sdk/sbom"
)

// cycloneDXGomod returns the cyclonedx-gomod v1.10.0 binary named by
// IOMT_TEST_CYCLONEDX_GOMOD_BIN. It is a measurement tool only, installed
// with
//
//	GOBIN=/tmp/x go install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
//
// and never a dependency of this module; tests and benchmarks using it skip
// without it.
func cycloneDXGomod(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("IOMT_TEST_CYCLONEDX_GOMOD_BIN")
	if bin == "" {
		tb.Skip("set IOMT_TEST_CYCLONEDX_GOMOD_BIN to a cyclonedx-gomod v1.10.0 binary")
	}
	return bin
}

// normPURL drops qualifiers and subpath and undoes percent-encoding, so
// cyclonedx-gomod's "?type=module&goos=…" purls compare with ours.
func normPURL(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// TestParityCycloneDXGomod: every module cyclonedx-gomod lists for a module
// appears in ours with the same version and purl (qualifiers ignored).
// Deliberate differences: we list the whole module graph (it lists modules
// that provide packages), and we add the stdlib component.
func TestParityCycloneDXGomod(t *testing.T) {
	bin := cycloneDXGomod(t)
	for _, dir := range []string{filepath.Join("testdata", "fixture"), filepath.Join("testdata", "large"), ".."} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "gomod.json")
			cmd := exec.Command(bin, "mod", "-json", "-output", out, dir)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cyclonedx-gomod: %v\n%s", err, b)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var theirs struct {
				Components []struct{ Name, Version, Purl string }
			}
			if err := json.Unmarshal(raw, &theirs); err != nil {
				t.Fatal(err)
			}
			res, err := sbom.FromModule(context.Background(), dir, sbom.Config{SkipLicenses: true})
			if err != nil {
				t.Fatal(err)
			}
			ours := map[string]string{}
			for _, c := range *res.BOM.Components {
				ours[normPURL(c.PackageURL)] = c.Version
			}
			for _, c := range theirs.Components {
				v, ok := ours[normPURL(c.Purl)]
				if !ok || v != c.Version {
					t.Errorf("cyclonedx-gomod lists %s %s; ours: present %v, version %q", c.Purl, c.Version, ok, v)
				}
			}
			t.Logf("cyclonedx-gomod: %d components, ours: %d", len(theirs.Components), len(ours))
		})
	}
}

// BenchmarkModLicenses measures wall time for an SBOM of testdata/large
// with licence detection on, as a process each, so one-time costs (the
// licence scanner's start-up) count for both: "ours" runs the iomt CLI,
// "cyclonedx-gomod" runs `cyclonedx-gomod mod -licenses` in the same run.
// Target: ours ≤ 0.5× cyclonedx-gomod.
func BenchmarkModLicenses(b *testing.B) {
	dir, err := filepath.Abs(filepath.Join("testdata", "large"))
	if err != nil {
		b.Fatal(err)
	}
	iomt := filepath.Join(b.TempDir(), "iomt")
	build := exec.Command("go", "build", "-o", iomt, "./cmd/iomt")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(b *testing.B, name string, args ...string) {
		for b.Loop() {
			if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
				b.Fatalf("%s: %v\n%s", name, err, out)
			}
		}
	}
	b.Run("ours", func(b *testing.B) {
		run(b, iomt, "sbom", "-q", "-o", filepath.Join(b.TempDir(), "sbom.json"), dir)
	})
	b.Run("cyclonedx-gomod", func(b *testing.B) {
		bin := cycloneDXGomod(b)
		run(b, bin, "mod", "-licenses", "-json", "-output", filepath.Join(b.TempDir(), "sbom.json"), dir)
	})
}

// BenchmarkFromModule measures the library in-process on testdata/large,
// licence detection on (scanner start-up paid once per process).
func BenchmarkFromModule(b *testing.B) {
	dir := filepath.Join("testdata", "large")
	for b.Loop() {
		if _, err := sbom.FromModule(context.Background(), dir, sbom.Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
