package sbom_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/sbom"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// fixtureConfig pins everything environment-dependent, so golden files are
// stable across machines and Go toolchains.
func fixtureConfig() sbom.Config {
	return sbom.Config{
		Reproducible: true,
		SourceDate:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		GoVersion:    "go1.25.0",
		ToolVersion:  "v0.0.0-test",
		MainVersion:  "v1.4.2",
		Env:          []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"},
	}
}

// schemaDir finds the official CycloneDX schemas: a sibling "shared/" of the
// repository (walking up from the test directory), else the copy in
// cyclonedx-go's module directory. Empty when neither exists.
func schemaDir(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "shared", "schemas", "cyclonedx")
		if _, err := os.Stat(filepath.Join(cand, "bom-1.6.schema.json")); err == nil {
			return cand
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err == nil {
		cand := filepath.Join(strings.TrimSpace(string(out)), "schema")
		if _, err := os.Stat(filepath.Join(cand, "bom-1.6.schema.json")); err == nil {
			return cand
		}
	}
	return ""
}

// validator compiles the official schema of spec, registering all four
// schema files by their $id so validation works offline.
func validator(t *testing.T, spec string) *jsonschema.Schema {
	t.Helper()
	dir := schemaDir(t)
	if dir == "" {
		if testenv.Required() {
			t.Fatal("CycloneDX schemas not found (../shared/schemas/cyclonedx or cyclonedx-go's schema/)")
		}
		t.Skip("CycloneDX schemas not found; set up ../shared/schemas/cyclonedx")
	}
	c := jsonschema.NewCompiler()
	for _, name := range []string{"bom-1.5.schema.json", "bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource("http://cyclonedx.org/schema/"+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-" + spec + ".schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, spec string, doc []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := validator(t, spec).Validate(inst); err != nil {
		t.Fatalf("CycloneDX %s schema: %v", spec, err)
	}
}

func encode(t *testing.T, res *sbom.Result, f sbom.Format, spec sbom.SpecVersion) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := sbom.Encode(&b, res.BOM, f, spec); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fromFixture(t *testing.T, cfg sbom.Config) *sbom.Result {
	t.Helper()
	res, err := sbom.FromModule(context.Background(), filepath.Join("testdata", "fixture"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update to accept):\n%s", name, firstDiff(want, got))
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  want " + x + "\n  got  " + y
		}
	}
	return ""
}
