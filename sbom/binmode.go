package sbom

import (
	"cmp"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// FromBinary builds the SBOM of a Go binary (bin mode) from the build
// information the linker embedded: the modules actually linked, the Go
// version (stdlib component), build settings as openiomt:go:build:*
// properties, and the binary's SHA-256 on the main component. The binary is
// never executed. Licences come from the module cache when the modules are
// there. The build information holds no module graph, so the main component
// depends directly on every linked module.
//
// Errors: [ErrNoBuildInfo], [ErrTooLarge], file errors, the context's error.
func FromBinary(ctx context.Context, path string, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sbom: binary: %w", err)
	}
	defer f.Close()
	bi, err := buildinfo.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoBuildInfo, filepath.Base(path))
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return nil, fmt.Errorf("sbom: binary: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return fromBuildInfo(ctx, &cfg, bi, hex.EncodeToString(h.Sum(nil)))
}

func fromBuildInfo(ctx context.Context, cfg *Config, bi *debug.BuildInfo, binSHA string) (*Result, error) {
	if bi.Main.Path == "" {
		return nil, fmt.Errorf("%w: no main module recorded", ErrNoBuildInfo)
	}
	if len(bi.Deps) > cfg.Limits.MaxComponents {
		return nil, &LimitError{What: "components", Limit: int64(cfg.Limits.MaxComponents)}
	}
	if cfg.ModCache == "" {
		cfg.ModCache = defaultModCache()
	}
	if cfg.GoVersion == "" {
		cfg.GoVersion = bi.GoVersion
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	mainRef := GoPURL(bi.Main.Path, version)
	main := cdx.Component{
		BOMRef:     mainRef,
		Type:       cdx.ComponentTypeApplication,
		Name:       bi.Main.Path,
		Version:    version,
		PackageURL: mainRef,
		Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: binSHA}},
	}
	if u := vcsURL(bi.Main.Path, nil); u != "" {
		main.ExternalReferences = &[]cdx.ExternalReference{{Type: cdx.ERTypeVCS, URL: u}}
	}
	var props []cdx.Property
	if bi.Path != "" {
		props = append(props, prop(PropBuildPrefix+"path", bi.Path))
	}
	for _, s := range bi.Settings {
		props = append(props, prop(PropBuildPrefix+s.Key, s.Value))
	}
	slices.SortStableFunc(props, func(a, b cdx.Property) int { return cmp.Compare(a.Name, b.Name) })
	if len(props) > 0 {
		main.Properties = &props
	}

	var mods []*goModule
	deps := map[string][]string{}
	for _, d := range bi.Deps {
		if d == nil {
			continue
		}
		m := &goModule{Path: d.Path, Version: d.Version, Sum: d.Sum, Usage: "build"}
		if r := d.Replace; r != nil {
			if r.Version != "" && r.Version != "(devel)" {
				m = &goModule{Path: r.Path, Version: r.Version, Sum: r.Sum, Replaces: d.Path, Usage: "build"}
			} else {
				m.Sum, m.ReplaceDir = "", r.Path
			}
		}
		if m.ReplaceDir == "" {
			m.Dir = cacheDir(cfg.ModCache, m.Path, m.Version)
		}
		mods = append(mods, m)
		deps[mainRef] = append(deps[mainRef], GoPURL(m.Path, m.Version))
	}
	// The stdlib licence is read from the local toolchain when there is one
	// (best effort: bin mode must work without Go installed).
	goroot := ""
	if !cfg.SkipLicenses {
		if out, err := runGo(ctx, cfg, "", "env", "GOROOT"); err == nil {
			goroot = strings.TrimSpace(string(out))
		}
	}
	return assemble(ctx, cfg, "bin", main, mods, deps, goroot)
}

// defaultModCache finds the module cache without running go: $GOMODCACHE,
// else the first $GOPATH entry's pkg/mod, else ~/go/pkg/mod.
func defaultModCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go", "pkg", "mod")
	}
	return ""
}
