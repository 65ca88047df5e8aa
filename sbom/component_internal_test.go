package sbom

import (
	"errors"
	"testing"
)

func TestGoVersionToSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.25.0":                      "v1.25.0",
		"go1.25":                        "v1.25.0",
		"go1.26.8 X:nocoverageredesign": "v1.26.8",
		"go1.26rc1":                     "v1.26.0-rc.1",
		"devel go1.27-abcdef":           "",
		"":                              "",
	} {
		if got := goVersionToSemver(in); got != want {
			t.Errorf("goVersionToSemver(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDerivedSupplier(t *testing.T) {
	for path, want := range map[string]string{
		"github.com/google/uuid": "google",
		"golang.org/x/text":      "The Go Authors",
		"stdlib":                 "The Go Authors",
		"gopkg.in/yaml.v3":       "go-yaml",
		"gopkg.in/user/pkg.v1":   "user",
		"modernc.org/sqlite":     "modernc.org",
	} {
		if got := derivedSupplier(path).Name; got != want {
			t.Errorf("derivedSupplier(%s) = %s, want %s", path, got, want)
		}
	}
}

// TestPathTraversalInBuildInfo: module paths and versions in a binary are
// attacker-controlled; they must never lead outside the module cache.
func TestPathTraversalInBuildInfo(t *testing.T) {
	cache := t.TempDir()
	for _, p := range [][2]string{{"../../etc", "v1"}, {"example.com/x", "../../../etc"}, {"/etc", "v1"}, {"a\\b", "v1"}} {
		if d := cacheDir(cache, p[0], p[1]); d != "" {
			t.Errorf("cacheDir(%q, %q) = %q", p[0], p[1], d)
		}
		if h := cacheZipHash(cache, p[0], p[1]); h != "" {
			t.Errorf("cacheZipHash(%q, %q) = %q", p[0], p[1], h)
		}
	}
}

func TestGoOutputLimit(t *testing.T) {
	cfg := Config{Limits: Limits{MaxGoOutput: 10}}.withDefaults()
	_, err := runGo(t.Context(), &cfg, ".", "env", "-json")
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LimitError", err)
	}
}
