package sbom

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps one of them, so
// callers can branch with [errors.Is]; the concrete types below carry detail.
var (
	// ErrGoCommand reports that the go command failed, most often because
	// go.mod is malformed or a module is unavailable offline. The
	// [*GoCommandError] carries the command and go's own message.
	ErrGoCommand = errors.New("sbom: go command failed")
	// ErrNoBuildInfo reports a file that is not a Go binary or was built
	// without module build information.
	ErrNoBuildInfo = errors.New("sbom: no Go build information")
	// ErrMalformedPolicy reports a policy file that is not valid JSON/YAML or
	// breaks the policy schema (unknown field, bad support level, bad date,
	// bad glob).
	ErrMalformedPolicy = errors.New("sbom: malformed policy")
	// ErrMalformedManifest reports a bad non-Go component manifest.
	ErrMalformedManifest = errors.New("sbom: malformed component manifest")
	// ErrMalformedVEX reports govulncheck -json output that cannot be read.
	ErrMalformedVEX = errors.New("sbom: malformed govulncheck output")
	// ErrMalformedBOM reports a CycloneDX document that cannot be decoded.
	ErrMalformedBOM = errors.New("sbom: malformed CycloneDX document")
	// ErrTooLarge reports an input over one of the [Limits].
	ErrTooLarge = errors.New("sbom: input over limit")
	// ErrUnsupported reports an unsupported spec version, format or mode.
	ErrUnsupported = errors.New("sbom: unsupported option")
)

// GoCommandError is a failed go command. Stderr is go's diagnostic, trimmed
// to 4 KiB; it names files and modules, never file contents.
type GoCommandError struct {
	Args   []string // e.g. ["list", "-m", "-json", "all"]
	Stderr string
	Err    error // the exec error
}

const maxStderr = 4 << 10

// Error names the go command and quotes its diagnostic.
func (e *GoCommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return "sbom: go " + strings.Join(e.Args, " ") + ": " + msg
}

// Unwrap returns [ErrGoCommand] and the underlying exec error.
func (e *GoCommandError) Unwrap() []error { return []error{ErrGoCommand, e.Err} }

// ParseError locates a problem in an input file: which input (policy,
// manifest, govulncheck), where (a field path or a record number) and what.
type ParseError struct {
	Input string // "policy", "manifest", "govulncheck", "bom"
	Where string // e.g. "rules[3].endOfSupport" or "record 12"; may be empty
	Err   error  // wraps the matching sentinel
}

// Error names the input, the place and the problem, never input values.
func (e *ParseError) Error() string {
	s := "sbom: " + e.Input
	if e.Where != "" {
		s += ": " + e.Where
	}
	msg := strings.TrimPrefix(e.Err.Error(), "sbom: ")
	return s + ": " + msg
}

// Unwrap returns the wrapped error (which wraps the sentinel).
func (e *ParseError) Unwrap() error { return e.Err }

// LimitError reports which limit an input exceeded.
type LimitError struct {
	What  string // e.g. "policy size", "components"
	Limit int64
}

// Error names the limit and its value.
func (e *LimitError) Error() string {
	return "sbom: " + e.What + " over limit of " + strconv.FormatInt(e.Limit, 10)
}

// Unwrap returns [ErrTooLarge].
func (e *LimitError) Unwrap() error { return ErrTooLarge }
