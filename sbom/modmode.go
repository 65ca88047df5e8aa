package sbom

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// ErrNoModule reports a directory without a go.mod file.
var ErrNoModule = errors.New("sbom: no go.mod in directory")

type listedModule struct {
	Path     string
	Version  string
	Main     bool
	Indirect bool
	Dir      string
	Sum      string
	Replace  *listedModule
	Origin   *origin
	Error    *struct{ Err string }
}

// FromModule builds the SBOM of the Go module in dir (mod mode): the whole
// module graph from `go list -m -json all` and `go mod graph`, each module's
// scope from the packages the main module's non-test and test builds use,
// and the Go toolchain as the stdlib component. The go command runs with
// GOWORK=off and -mod=readonly added to GOFLAGS; it may need the module
// proxy for modules missing from the module cache.
//
// Errors: [ErrNoModule], [ErrGoCommand] (as [*GoCommandError], e.g. a
// malformed go.mod), [ErrTooLarge], the context's error.
func FromModule(ctx context.Context, dir string, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sbom: module directory: %w", err)
	}
	if fi, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil || !fi.Mode().IsRegular() {
		return nil, ErrNoModule
	}
	cfg.progressf("reading module graph")

	type out struct {
		b   []byte
		err error
	}
	jobs := map[string][]string{
		"list":  {"list", "-e", "-m", "-json", "all"},
		"graph": {"mod", "graph"},
		"build": {"list", "-e", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./..."},
		"test":  {"list", "-e", "-deps", "-test", "-f", "{{with .Module}}{{.Path}}{{end}}", "./..."},
		"env":   {"env", "-json", "GOVERSION", "GOMODCACHE", "GOROOT"},
	}
	results := map[string]out{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, args := range jobs {
		wg.Go(func() {
			b, err := runGo(ctx, &cfg, abs, args...)
			mu.Lock()
			results[name] = out{b, err}
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, name := range []string{"list", "graph", "env", "build", "test"} {
		if err := results[name].err; err != nil {
			return nil, err
		}
	}

	var env struct{ GOVERSION, GOMODCACHE, GOROOT string }
	if err := json.Unmarshal(results["env"].b, &env); err != nil {
		return nil, &GoCommandError{Args: jobs["env"], Err: err}
	}
	if cfg.ModCache == "" {
		cfg.ModCache = env.GOMODCACHE
	}
	if cfg.GoVersion == "" {
		cfg.GoVersion = env.GOVERSION
	}

	mainMod, mods, selected, err := parseModList(results["list"].b, &cfg)
	if err != nil {
		return nil, err
	}
	build := lineSet(results["build"].b)
	test := lineSet(results["test"].b)
	for _, m := range mods {
		orig := m.Path
		if m.Replaces != "" {
			orig = m.Replaces
		}
		switch {
		case build[orig]:
			m.Usage = "build"
		case test[orig]:
			m.Usage = "test"
		default:
			m.Usage = "graph"
		}
	}

	mainRef := GoPURL(mainMod.Path, cfg.MainVersion)
	deps := parseModGraph(results["graph"].b, mainMod.Path, mainRef, selected)

	main := cdx.Component{
		BOMRef:     mainRef,
		Type:       cdx.ComponentTypeApplication,
		Name:       mainMod.Path,
		Version:    cfg.MainVersion,
		PackageURL: mainRef,
	}
	if u := vcsURL(mainMod.Path, nil); u != "" {
		main.ExternalReferences = &[]cdx.ExternalReference{{Type: cdx.ERTypeVCS, URL: u}}
	}
	return assemble(ctx, &cfg, "mod", main, mods, deps, env.GOROOT)
}

// selectedKey identifies a module version as go.mod and go mod graph name it
// (before replacement).
type selectedKey = string

func parseModList(data []byte, cfg *Config) (*listedModule, []*goModule, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var mainMod *listedModule
	var mods []*goModule
	// selected maps an original module path to the bom-ref of its selected
	// version, and "path@version" to the same, for graph edges.
	selected := map[selectedKey]string{}
	for {
		var lm listedModule
		if err := dec.Decode(&lm); err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, nil, &GoCommandError{Args: []string{"list", "-m", "-json", "all"}, Err: err}
		}
		if lm.Error != nil {
			// With -e, a module whose metadata cannot be fetched (offline,
			// GOPROXY=off) is still listed; keep it, without what is missing.
			cfg.Logger.Debug("sbom: module listed with an error", "module", lm.Path)
		}
		if lm.Main {
			if mainMod == nil {
				mainMod = &lm
			}
			continue
		}
		if len(mods) >= cfg.Limits.MaxComponents {
			return nil, nil, nil, &LimitError{What: "components", Limit: int64(cfg.Limits.MaxComponents)}
		}
		m := &goModule{Path: lm.Path, Version: lm.Version, Sum: lm.Sum, Dir: lm.Dir, Origin: lm.Origin, Indirect: lm.Indirect}
		if r := lm.Replace; r != nil {
			if r.Version != "" {
				m = &goModule{Path: r.Path, Version: r.Version, Sum: r.Sum, Dir: r.Dir, Origin: r.Origin, Replaces: lm.Path, Indirect: lm.Indirect}
			} else {
				m.Dir, m.Sum, m.ReplaceDir = r.Dir, "", r.Path
			}
		}
		if m.Sum == "" && m.ReplaceDir == "" {
			m.Sum = cacheZipHash(cfg.ModCache, m.Path, m.Version)
		}
		ref := GoPURL(m.Path, m.Version)
		selected[lm.Path] = ref
		selected[lm.Path+"@"+lm.Version] = ref
		mods = append(mods, m)
	}
	if mainMod == nil {
		return nil, nil, nil, &GoCommandError{Args: []string{"list", "-m", "-json", "all"}, Err: errors.New("no main module listed")}
	}
	return mainMod, mods, selected, nil
}

func lineSet(b []byte) map[string]bool {
	set := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			set[l] = true
		}
	}
	return set
}

// parseModGraph turns `go mod graph` into bom-ref edges between selected
// versions: an edge from a version MVS did not select is dropped, and a
// target is mapped to its selected version.
func parseModGraph(b []byte, mainPath, mainRef string, selected map[string]string) map[string][]string {
	deps := map[string][]string{}
	seen := map[[2]string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		from, to, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		var fromRef string
		if from == mainPath {
			fromRef = mainRef
		} else if r, ok := selected[from]; ok {
			fromRef = r
		} else {
			continue
		}
		toPath, _, _ := strings.Cut(to, "@")
		toRef, ok := selected[toPath]
		if !ok || toRef == fromRef {
			continue // go@…, toolchain@…, or pruned out
		}
		if e := [2]string{fromRef, toRef}; !seen[e] {
			seen[e] = true
			deps[fromRef] = append(deps[fromRef], toRef)
		}
	}
	return deps
}
