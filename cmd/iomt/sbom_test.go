package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	sbomFixture = filepath.Join("..", "..", "sbom", "testdata", "fixture")
	sbomTD      = filepath.Join("..", "..", "sbom", "testdata")
)

func TestSBOMReproducibleCLI(t *testing.T) {
	t.Parallel()
	args := []string{"sbom", "-q", "--reproducible", "--no-licenses", "--main-version", "v1.0.0", sbomFixture}
	code, a, stderr := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("--quiet printed on stderr: %q", stderr)
	}
	_, b, _ := runCLI(t, "", args...)
	if a != b || !strings.Contains(a, `"specVersion": "1.6"`) {
		t.Fatal("reproducible output differs between runs or is not CycloneDX 1.6")
	}
}

func TestSBOMCheckCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	complete := filepath.Join(dir, "complete.xml")
	vex, err := os.ReadFile(filepath.Join(sbomTD, "govulncheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, string(vex), "sbom", "--format", "xml", "--spec-version", "1.5",
		"--policy", filepath.Join(sbomTD, "policy.yaml"), "--manifest", filepath.Join(sbomTD, "manifest.json"),
		"--vex", "-", "-o", complete, sbomFixture)
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "sbom: licences") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	code, out, stderr := runCLI(t, "", "sbom", "check", complete)
	if code != 0 {
		t.Fatalf("check of a complete SBOM: exit %d\n%s%s", code, out, stderr)
	}

	incomplete := filepath.Join(dir, "incomplete.json")
	if code, _, stderr := runCLI(t, "", "sbom", "-q", "--no-licenses", "-o", incomplete, sbomFixture); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	code, out, stderr = runCLI(t, "", "sbom", "check", incomplete)
	if code != exitFailed {
		t.Fatalf("check of an incomplete SBOM: exit %d", code)
	}
	if !strings.HasPrefix(stderr, "iomt: ntia: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr should be one line naming the rule: %q", stderr)
	}
	for _, want := range []string{"ntia: metadata: author missing", "fda: pkg:golang/github.com/google/uuid@v1.6.0: support level missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
}

func TestSBOMUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"sbom"},
		{"sbom", "--format", "yaml", "."},
		{"sbom", "--spec-version", "1.4", "."},
		{"sbom", "--mode", "docker", "."},
		{"sbom", "--author", "<", "."},
		{"sbom", "check"},
	} {
		if code, _, stderr := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, stderr, exitUsage)
		}
	}
}

func TestSBOMBadInputsCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(badPolicy, []byte(`{"rules": [{"match": "*", "supportLevel": "sometimes"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notBOM := filepath.Join(dir, "x.json")
	if err := os.WriteFile(notBOM, []byte(`{"bomFormat": "SPDX"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"sbom", "-q", "--policy", badPolicy, sbomFixture}, "rules[0].supportLevel"},
		{"{not json", []string{"sbom", "-q", "--vex", "-", sbomFixture}, "govulncheck"},
		{"", []string{"sbom", "-q", "--mode", "bin", badPolicy}, "no Go build information"},
		{"", []string{"sbom", "-q", dir}, "no go.mod"},
		{"", []string{"sbom", "check", notBOM}, "cyclonedx"},
	} {
		code, _, stderr := runCLI(t, tc.stdin, tc.args...)
		if code != exitFailed || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line mentioning %q", tc.args, code, stderr, tc.want)
		}
	}
}
