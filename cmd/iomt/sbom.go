package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openiomt/sdk/internal/atomicfile"
	"github.com/openiomt/sdk/sbom"
	"github.com/spf13/cobra"
)

type sbomOptions struct {
	mode, format, spec    string
	policy, manifest, vex string
	output, mainVersion   string
	authors               []string
	reproducible, quiet   bool
	noLicenses            bool
}

func newSBOMCmd() *cobra.Command {
	var o sbomOptions
	cmd := &cobra.Command{
		Use:   "sbom [flags] PATH",
		Short: "Generate a CycloneDX SBOM (FDA/NTIA fields, VEX) for a Go module or binary",
		Long: `Generate a CycloneDX SBOM for the Go module in directory PATH (mod mode:
the full module graph) or for the Go binary PATH (bin mode: the modules
linked, build settings, the binary's SHA-256). --mode auto picks mod for a
directory and bin for a file. A module directory literally named "check"
must be written ./check.

Each component carries its purl, version, SHA-256 (the go.sum h1 digest),
licences detected from the module cache (unknown stays unknown), supplier
and VCS reference. A policy file (JSON or YAML) adds the FDA level of
support (openiomt:fda:supportLevel) and end-of-support date
(cdx:lifecycle:milestone:endOfSupport) by purl glob, suppliers and the SBOM
authors; a manifest adds non-Go components (bootloader, RTOS, C libraries);
--vex reads "govulncheck -json" output ("-" for stdin) into
vulnerabilities[] with an exploitability analysis.

Scopes in mod mode follow the current GOOS/GOARCH: set them in the
environment to describe a cross-compiled device build.

--reproducible writes identical bytes for identical inputs: no timestamp
(unless SOURCE_DATE_EPOCH is set) and a serial number derived from the
content. Progress goes to stderr unless --quiet.

Examples:
  iomt sbom --policy policy.yaml --author "Acme PSIRT <psirt@acme.example>" -o sbom.json .
  govulncheck -json ./... | iomt sbom --vex - --reproducible -o sbom.cdx.json .
  iomt sbom --mode bin --format xml --spec-version 1.5 ./bin/monitor
  iomt sbom check sbom.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSBOM(cmd, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", "auto", "auto, mod (module directory) or bin (built binary)")
	f.StringVar(&o.format, "format", "json", "output format: json or xml")
	f.StringVar(&o.spec, "spec-version", "1.6", "CycloneDX version: 1.6 or 1.5")
	f.StringVar(&o.policy, "policy", "", "policy `FILE` (JSON or YAML): FDA fields, suppliers, authors")
	f.StringVar(&o.manifest, "manifest", "", "non-Go component manifest `FILE` (JSON or YAML)")
	f.StringVar(&o.vex, "vex", "", "govulncheck -json output `FILE` (\"-\" for stdin)")
	f.StringVarP(&o.output, "output", "o", "", "write the SBOM to `FILE` instead of stdout")
	f.StringVar(&o.mainVersion, "main-version", "", "version of the main module in mod mode (default \"(devel)\")")
	f.StringArrayVar(&o.authors, "author", nil, "SBOM author, \"Name <email>\" (repeatable)")
	f.BoolVar(&o.reproducible, "reproducible", false, "byte-identical output for identical inputs")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress or warnings on stderr")
	f.BoolVar(&o.noLicenses, "no-licenses", false, "skip licence detection")
	cmd.AddCommand(newSBOMCheckCmd())
	return cmd
}

func runSBOM(cmd *cobra.Command, o *sbomOptions, path string) error {
	format := sbom.Format(o.format)
	if format != sbom.FormatJSON && format != sbom.FormatXML {
		return usagef("--format must be json or xml")
	}
	spec := sbom.SpecVersion(o.spec)
	if spec != sbom.Spec16 && spec != sbom.Spec15 {
		return usagef("--spec-version must be 1.6 or 1.5")
	}
	mode := o.mode
	switch mode {
	case "auto", "mod", "bin":
	default:
		return usagef("--mode must be auto, mod or bin")
	}
	cfg := sbom.Config{Reproducible: o.reproducible, SkipLicenses: o.noLicenses, MainVersion: o.mainVersion}
	for _, a := range o.authors {
		c, err := parseAuthor(a)
		if err != nil {
			return usagef("--author: %v", err)
		}
		cfg.Authors = append(cfg.Authors, c)
	}
	if o.reproducible {
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			sec, err := strconv.ParseInt(s, 10, 64)
			if err != nil || sec < 0 {
				return usagef("SOURCE_DATE_EPOCH must be a non-negative integer")
			}
			cfg.SourceDate = time.Unix(sec, 0).UTC()
		}
	}
	if !o.quiet {
		cfg.Progress = cmd.ErrOrStderr()
	}
	if o.policy != "" {
		data, err := readInput(cmd, o.policy, sbom.DefaultMaxPolicySize)
		if err != nil {
			return err
		}
		if cfg.Policy, err = sbom.ParsePolicy(data); err != nil {
			return err
		}
	}
	if o.manifest != "" {
		data, err := readInput(cmd, o.manifest, sbom.DefaultMaxPolicySize)
		if err != nil {
			return err
		}
		if cfg.Manifest, err = sbom.ParseManifest(data); err != nil {
			return err
		}
	}
	if o.vex != "" {
		data, err := readInput(cmd, o.vex, sbom.DefaultMaxInputSize)
		if err != nil {
			return err
		}
		if cfg.Vulnerabilities, err = sbom.ParseGovulncheck(strings.NewReader(string(data)), sbom.DefaultMaxInputSize); err != nil {
			return err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sbom: %w", err)
	}
	if mode == "auto" {
		mode = "mod"
		if !fi.IsDir() {
			mode = "bin"
		}
	}
	var res *sbom.Result
	if mode == "mod" {
		res, err = sbom.FromModule(cmd.Context(), path, cfg)
	} else {
		res, err = sbom.FromBinary(cmd.Context(), path, cfg)
	}
	if err != nil {
		return err
	}
	if !o.quiet {
		if n := len(res.Unmatched); n > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "sbom: %d components match no policy rule (FDA fields missing); see \"iomt sbom check\"\n", n)
		}
		for _, s := range res.SkippedVulns {
			fmt.Fprintf(cmd.ErrOrStderr(), "sbom: vulnerability %s: module not in the SBOM, skipped\n", s)
		}
	}
	if o.output == "" {
		return sbom.Encode(cmd.OutOrStdout(), res.BOM, format, spec)
	}
	// Through a temporary file, fsynced and renamed: readers never see a
	// partial SBOM.
	if err := atomicfile.Write(o.output, 0o644, func(w io.Writer) error { return sbom.Encode(w, res.BOM, format, spec) }); err != nil {
		return fmt.Errorf("sbom: %w", err)
	}
	return nil
}

// parseAuthor parses "Name <email>", "Name" or "<email>".
func parseAuthor(s string) (sbom.Contact, error) {
	s = strings.TrimSpace(s)
	var c sbom.Contact
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if !strings.HasSuffix(s, ">") {
			return c, errors.New(`want "Name <email>"`)
		}
		c.Email = strings.TrimSpace(s[i+1 : len(s)-1])
		s = s[:i]
	}
	c.Name = strings.TrimSpace(s)
	if c.Name == "" && c.Email == "" {
		return c, errors.New(`want "Name <email>"`)
	}
	return c, nil
}

// readInput reads a file, or stdin for "-", refusing more than max bytes.
func readInput(cmd *cobra.Command, name string, max int64) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("sbom: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("sbom: read %s: %w", filepath.Base(name), err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("sbom: %s is over %d bytes: %w", filepath.Base(name), max, sbom.ErrTooLarge)
	}
	return data, nil
}

func newSBOMCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Check an SBOM for the NTIA minimum elements and FDA fields",
		Long: `Check the CycloneDX SBOM in FILE (JSON or XML; "-" for stdin) for every
NTIA minimum element — author, timestamp, and per component supplier, name,
version, a unique identifier (purl, CPE or SWID) and a dependencies entry —
and the FDA fields per component: level of support (openiomt:fda:supportLevel)
and end-of-support date (cdx:lifecycle:milestone:endOfSupport), except for
the main component and components with scope "excluded" (not shipped).

Every problem is printed on stdout, one per line, as
"RULE: COMPONENT: ELEMENT missing|invalid". Exit status 1 when anything is
missing (stderr names the rule, "ntia" or "fda"), 0 when complete.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(cmd, args[0], sbom.DefaultMaxInputSize)
			if err != nil {
				return err
			}
			bom, err := sbom.Decode(strings.NewReader(string(data)), sbom.DefaultMaxInputSize)
			if err != nil {
				return checkFailed("cyclonedx", err)
			}
			problems := sbom.Check(bom)
			out := cmd.OutOrStdout()
			var ntia, fda int
			for _, p := range problems {
				fmt.Fprintln(out, p.String())
				if p.Rule == sbom.RuleNTIA {
					ntia++
				} else {
					fda++
				}
			}
			if len(problems) == 0 {
				fmt.Fprintln(out, "sbom: complete: NTIA minimum elements and FDA fields present")
				return nil
			}
			rule := sbom.RuleFDA
			if ntia > 0 {
				rule = sbom.RuleNTIA
			}
			return checkFailed(rule, fmt.Errorf("%d missing or invalid elements (%d NTIA, %d FDA)", len(problems), ntia, fda))
		},
	}
}
