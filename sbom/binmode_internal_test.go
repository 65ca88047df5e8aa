package sbom

import (
	"context"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfoReplacements(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.25.3",
		Path:      "example.com/dev/cmd/monitor",
		Main:      debug.Module{Path: "example.com/dev", Version: "v1.2.3"},
		Deps: []*debug.Module{
			{Path: "github.com/google/uuid", Version: "v1.6.0", Sum: "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0="},
			{Path: "example.com/forked", Version: "v1.0.0", Replace: &debug.Module{Path: "github.com/acme/forked", Version: "v1.0.1"}},
			{Path: "example.com/local", Version: "v0.1.0", Replace: &debug.Module{Path: "../local", Version: "(devel)"}},
			nil,
		},
		Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "vcs.revision", Value: "abc"}},
	}
	cfg := Config{SkipLicenses: true, Reproducible: true, ModCache: t.TempDir()}.withDefaults()
	res, err := fromBuildInfo(context.Background(), &cfg, bi, "00")
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, c := range *res.BOM.Components {
		refs[c.BOMRef] = true
		switch c.BOMRef {
		case "pkg:golang/github.com/acme/forked@v1.0.1":
			if getProp(&c, PropGoReplaces) != "example.com/forked" {
				t.Errorf("replacement lacks %s", PropGoReplaces)
			}
		case "pkg:golang/example.com/local@v0.1.0":
			if getProp(&c, PropGoReplaceDir) != "../local" || c.Hashes != nil {
				t.Errorf("directory replacement: %+v", c)
			}
		}
	}
	for _, want := range []string{"pkg:golang/stdlib@v1.25.3", "pkg:golang/github.com/google/uuid@v1.6.0",
		"pkg:golang/github.com/acme/forked@v1.0.1", "pkg:golang/example.com/local@v0.1.0"} {
		if !refs[want] {
			t.Errorf("missing %s", want)
		}
	}
	main := res.BOM.Metadata.Component
	if main.Version != "v1.2.3" || getProp(main, PropBuildPrefix+"vcs.revision") != "abc" || getProp(main, PropBuildPrefix+"path") == "" {
		t.Errorf("main component: %+v", main)
	}
	if _, err := fromBuildInfo(context.Background(), &cfg, &debug.BuildInfo{}, "00"); err == nil {
		t.Error("build info without a main module accepted")
	}
}
