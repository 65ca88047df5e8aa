package sbom

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/licensecheck"
)

// licenseCoverageMin is the share of a licence file's words that must match
// known licences for the result to be used (the threshold pkg.go.dev uses).
// Below it the licence stays unknown: it is never guessed.
const licenseCoverageMin = 75

// nonSPDX lists licensecheck v0.3.1 identifiers that are not SPDX licence
// IDs (TestLicenseIDsAreSPDX keeps it complete); they are written as licence
// names instead of IDs.
var nonSPDX = map[string]bool{
	"Aladdin-9": true, "Anti996": true, "BSD-1-Clause-Clear": true, "BSD-3-Clause-NoTrademark": true,
	"CC-BY-NC-SA-3.0-US": true, "CommonsClause": true, "GPL-2.0-or-3.0": true,
	"GooglePatentClause": true, "GooglePatentsFile": true, "MIT-NoAd": true, "Prosperity-3.0.0": true,
}

// commonFamilies are the licence families nearly every Go module uses. A
// scanner built from their licensecheck entries (all variants, so it picks
// the same best match as the full scanner) answers for most licence files.
var commonFamilies = []string{
	"0BSD", "AGPL-", "Apache-", "BSD-", "BSL-", "BlueOak-", "CC0-", "EPL-", "GPL-",
	"ISC", "LGPL-", "MIT", "MPL-", "Unlicense", "Zlib",
}

func isCommonLicense(id string) bool {
	for _, f := range commonFamilies {
		if strings.HasPrefix(id, f) {
			return true
		}
	}
	return false
}

// commonScanner is built on first use in well under a second, where
// licensecheck's full built-in scanner takes several seconds of CPU. It is
// immutable once built.
var commonScanner = sync.OnceValue(func() *licensecheck.Scanner {
	var ls []licensecheck.License
	for _, l := range licensecheck.BuiltinLicenses() {
		if isCommonLicense(l.ID) && l.LRE != "" {
			ls = append(ls, l)
		}
	}
	s, err := licensecheck.NewScanner(ls)
	if err != nil {
		return nil
	}
	return s
})

// scanLicenseText tries the common-licence scanner first and falls back to
// the full built-in one (paying its start-up only when needed) when the
// common licences do not cover the text.
func scanLicenseText(text []byte) licensecheck.Coverage {
	if s := commonScanner(); s != nil {
		if cov := s.Scan(text); cov.Percent >= licenseCoverageMin && len(cov.Match) > 0 {
			return cov
		}
	}
	return licensecheck.Scan(text)
}

// isLicenseFile reports whether a module-root file name is a licence file.
func isLicenseFile(name string) bool {
	u := strings.ToUpper(name)
	for _, ext := range []string{".GO", ".S", ".C", ".H", ".PY", ".SH"} {
		if strings.HasSuffix(u, ext) {
			return false // source code such as license.go
		}
	}
	for _, p := range []string{"LICENSE", "LICENCE", "COPYING", "UNLICENSE", "MIT-LICENSE", "MIT-LICENCE", "MIT_LICENSE", "MIT_LICENCE"} {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// licenseResult is what detection found in one module directory.
type licenseResult struct {
	IDs          []string // sorted, deduplicated licensecheck IDs
	Unrecognized []string // licence files below the coverage threshold
}

// detectLicenses scans the licence files at the root of dir.
func detectLicenses(dir string, maxSize int64) licenseResult {
	var res licenseResult
	entries, err := os.ReadDir(dir)
	if err != nil {
		return res
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isLicenseFile(e.Name()) {
			continue
		}
		text, ok := readLimited(filepath.Join(dir, e.Name()), maxSize)
		if !ok {
			res.Unrecognized = append(res.Unrecognized, e.Name())
			continue
		}
		cov := scanLicenseText(text)
		if cov.Percent < licenseCoverageMin || len(cov.Match) == 0 {
			res.Unrecognized = append(res.Unrecognized, e.Name())
			continue
		}
		for _, m := range cov.Match {
			if m.ID == "GooglePatentsFile" {
				continue
			}
			res.IDs = append(res.IDs, m.ID)
		}
	}
	slices.Sort(res.IDs)
	res.IDs = slices.Compact(res.IDs)
	return res
}

func readLimited(name string, maxSize int64) ([]byte, bool) {
	f, err := os.Open(name)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil || int64(len(b)) > maxSize {
		return nil, false
	}
	return b, true
}

// cdxLicenses converts licence IDs to CycloneDX licence choices.
func cdxLicenses(ids []string) *cdx.Licenses {
	if len(ids) == 0 {
		return nil
	}
	ls := make(cdx.Licenses, 0, len(ids))
	for _, id := range ids {
		if nonSPDX[id] {
			ls = append(ls, cdx.LicenseChoice{License: &cdx.License{Name: id}})
		} else {
			ls = append(ls, cdx.LicenseChoice{License: &cdx.License{ID: id}})
		}
	}
	return &ls
}

// scanLicenses detects licences for every module with a directory, in
// parallel, reporting progress. results[i] belongs to mods[i].
func scanLicenses(ctx context.Context, cfg *Config, mods []*goModule) ([]licenseResult, error) {
	results := make([]licenseResult, len(mods))
	var todo []int
	for i, m := range mods {
		if m.Dir != "" {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return results, nil
	}
	cfg.progressf("detecting licences of %d modules", len(todo))
	step := max(len(todo)/10, 25)
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	next := make(chan int)
	for range min(cfg.Concurrency, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = detectLicenses(mods[i].Dir, cfg.Limits.MaxLicenseSize)
				mu.Lock()
				done++
				if done%step == 0 && done < len(todo) {
					cfg.progressf("licences %d/%d", done, len(todo))
				}
				mu.Unlock()
			}
		}()
	}
	var err error
feed:
	for _, i := range todo {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	cfg.progressf("licences %d/%d", len(todo), len(todo))
	return results, nil
}
