package sbom

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Property names this package writes.
const (
	// PropSupportLevel is the FDA level of support of a component:
	// actively-maintained, no-longer-maintained, abandoned or unknown.
	PropSupportLevel = "openiomt:fda:supportLevel"
	// PropEndOfSupport is the end-of-support date (YYYY-MM-DD), in the
	// CycloneDX property taxonomy.
	PropEndOfSupport = "cdx:lifecycle:milestone:endOfSupport"
	// PropGoH1 is the go.sum "h1:" hash of a Go module, verifiable against
	// sum.golang.org; the SHA-256 hash entry is the same digest in hex.
	PropGoH1 = "openiomt:go:h1"
	// PropGoUsage says how the main module uses a Go module: "build"
	// (linked into a non-test package), "test" (needed by tests only) or
	// "graph" (in the module graph, no package used).
	PropGoUsage = "openiomt:go:usage"
	// PropGoReplaces names the module a replacement stands in for.
	PropGoReplaces = "openiomt:go:replaces"
	// PropGoReplaceDir is the directory, as written in go.mod, that
	// replaces a module; such a component has no verifiable hash.
	PropGoReplaceDir = "openiomt:go:replaceDir"
	// PropSupplierDerived is "true" when the supplier was derived from the
	// module path rather than given by the policy.
	PropSupplierDerived = "openiomt:supplier:derived"
	// PropLicenseUnrecognized lists licence files whose text was not
	// recognised (their licence stays unknown).
	PropLicenseUnrecognized = "openiomt:license:unrecognizedFiles"
	// PropBuildPrefix prefixes bin mode build settings, e.g.
	// "openiomt:go:build:GOOS".
	PropBuildPrefix = "openiomt:go:build:"
	// PropMode records the generation mode: "mod" or "bin".
	PropMode = "openiomt:sbom:mode"
)

// goModule is one Go module as both modes see it.
type goModule struct {
	Path, Version string
	Sum           string // go.sum h1 hash, may be empty
	Dir           string // extracted source in the module cache, may be empty
	Replaces      string // original path when this is a replacement
	ReplaceDir    string // local directory replacing the module
	Usage         string // PropGoUsage value; empty in bin mode
	Origin        *origin
	Indirect      bool
}

type origin struct {
	VCS string `json:"VCS"`
	URL string `json:"URL"`
}

// purlUnreserved reports whether c may appear unescaped in a purl segment.
func purlUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if purlUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		const hexd = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// GoPURL returns the package URL of a Go module, without qualifiers:
// pkg:golang/NAMESPACE/NAME@VERSION, each segment percent-encoded. An empty
// version or "(devel)" leaves the version out. The Go standard library is
// path "stdlib", as the Go vulnerability database names it.
func GoPURL(path, version string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = purlEscape(s)
	}
	p := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" && version != "(devel)" {
		p += "@" + purlEscape(version)
	}
	return p
}

// h1ToSHA256 turns a go.sum "h1:base64" hash into hex SHA-256.
func h1ToSHA256(sum string) (string, bool) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		return "", false
	}
	return hex.EncodeToString(raw), true
}

// escapeModPath applies the module cache's case encoding ("!" + lower case).
func escapeModPath(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// safeModElem rejects path and version text that could escape the module
// cache when joined into a file name (binaries are attacker-controlled input).
func safeModElem(s string) bool {
	if s == "" || strings.Contains(s, "..") || strings.ContainsAny(s, "\\\x00") || strings.HasPrefix(s, "/") {
		return false
	}
	return true
}

// cacheDir returns the extracted module directory in modCache, if present.
func cacheDir(modCache, path, version string) string {
	if modCache == "" || !safeModElem(path) || !safeModElem(version) {
		return ""
	}
	d := filepath.Join(modCache, filepath.FromSlash(escapeModPath(path))+"@"+escapeModPath(version))
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}

// cacheZipHash reads the h1 hash the go command stored next to a module zip.
func cacheZipHash(modCache, path, version string) string {
	if modCache == "" || !safeModElem(path) || !safeModElem(version) {
		return ""
	}
	f := filepath.Join(modCache, "cache", "download", filepath.FromSlash(escapeModPath(path)), "@v", escapeModPath(version)+".ziphash")
	b, err := os.ReadFile(f)
	if err != nil || len(b) > 128 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// derivedSupplier names the supplier implied by a module path: the account
// owning a code-hosting repository, the Go project for golang.org/x and the
// standard library, otherwise the domain.
func derivedSupplier(path string) *cdx.OrganizationalEntity {
	if path == "stdlib" || strings.HasPrefix(path, "golang.org/x/") {
		return &cdx.OrganizationalEntity{Name: "The Go Authors", URL: &[]string{"https://go.dev"}}
	}
	elems := strings.Split(path, "/")
	host := elems[0]
	switch host {
	case "github.com", "gitlab.com", "bitbucket.org", "codeberg.org":
		if len(elems) >= 2 {
			return &cdx.OrganizationalEntity{Name: elems[1], URL: &[]string{"https://" + host + "/" + elems[1]}}
		}
	case "gopkg.in":
		// gopkg.in/pkg.v3 → github.com/go-pkg; gopkg.in/user/pkg.v3 → github.com/user.
		if len(elems) >= 3 {
			return &cdx.OrganizationalEntity{Name: elems[1], URL: &[]string{"https://github.com/" + elems[1]}}
		}
		if len(elems) == 2 {
			name, _, _ := strings.Cut(elems[1], ".")
			return &cdx.OrganizationalEntity{Name: "go-" + name, URL: &[]string{"https://github.com/go-" + name}}
		}
	}
	if !strings.Contains(host, ".") {
		return &cdx.OrganizationalEntity{Name: host}
	}
	return &cdx.OrganizationalEntity{Name: host, URL: &[]string{"https://" + host}}
}

// vcsURL returns the source repository of a module, from the go command's
// origin record when it has one, else from well-known hosts. Empty if unknown.
func vcsURL(path string, o *origin) string {
	if o != nil && o.URL != "" && (strings.HasPrefix(o.URL, "https://") || strings.HasPrefix(o.URL, "http://")) {
		return o.URL
	}
	if path == "stdlib" {
		return "https://go.googlesource.com/go"
	}
	elems := strings.Split(path, "/")
	switch elems[0] {
	case "github.com", "gitlab.com", "bitbucket.org", "codeberg.org":
		if len(elems) >= 3 {
			return "https://" + elems[0] + "/" + elems[1] + "/" + elems[2]
		}
	case "golang.org":
		if len(elems) >= 3 && elems[1] == "x" {
			return "https://go.googlesource.com/" + elems[2]
		}
	case "go.googlesource.com":
		if len(elems) >= 2 {
			return "https://go.googlesource.com/" + elems[1]
		}
	}
	return ""
}

// goVersionToSemver turns "go1.25.0 X:foo" or "go1.25" into "v1.25.0", the
// version form the Go vulnerability database uses for stdlib.
func goVersionToSemver(v string) string {
	v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
	if !strings.HasPrefix(v, "go1") {
		return "" // "devel …" toolchains have no release version
	}
	v = strings.TrimPrefix(v, "go")
	// Pre-releases: go1.26rc1 → v1.26.0-rc.1.
	for _, pre := range []string{"rc", "beta"} {
		if i := strings.Index(v, pre); i > 0 {
			base, n := v[:i], v[i+len(pre):]
			if strings.Count(base, ".") == 1 {
				base += ".0"
			}
			return "v" + base + "-" + pre + "." + n
		}
	}
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	return "v" + v
}

func prop(name, value string) cdx.Property { return cdx.Property{Name: name, Value: value} }

// goComponent builds the CycloneDX component for a Go module.
func goComponent(m *goModule) cdx.Component {
	ref := GoPURL(m.Path, m.Version)
	c := cdx.Component{
		BOMRef:     ref,
		Type:       cdx.ComponentTypeLibrary,
		Name:       m.Path,
		Version:    m.Version,
		PackageURL: ref,
	}
	var props []cdx.Property
	if sha, ok := h1ToSHA256(m.Sum); ok {
		c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: sha}}
		props = append(props, prop(PropGoH1, m.Sum))
	}
	switch m.Usage {
	case "build":
		c.Scope = cdx.ScopeRequired
	case "test":
		c.Scope = cdx.ScopeOptional
	case "graph":
		c.Scope = cdx.ScopeExcluded
	}
	if m.Usage != "" {
		props = append(props, prop(PropGoUsage, m.Usage))
	}
	if m.Replaces != "" {
		props = append(props, prop(PropGoReplaces, m.Replaces))
	}
	if m.ReplaceDir != "" {
		props = append(props, prop(PropGoReplaceDir, m.ReplaceDir))
	}
	if u := vcsURL(m.Path, m.Origin); u != "" {
		c.ExternalReferences = &[]cdx.ExternalReference{{Type: cdx.ERTypeVCS, URL: u}}
	}
	if len(props) > 0 {
		c.Properties = &props
	}
	return c
}
