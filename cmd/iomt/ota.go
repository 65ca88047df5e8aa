package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/ota"
)

// maxKeyFileBytes bounds a JWK file read by the CLI.
const maxKeyFileBytes = 64 << 10

func newOTACmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ota",
		Short: "Sign and verify firmware releases: trust roots, manifests, images",
		Long: `Sign and verify over-the-air firmware releases.

A root document (signed by a threshold of root keys) names the keys trusted
for the "root" and "targets" roles. A release manifest (signed by a threshold
of targets keys) names the image's length, SHA-256, version, security version
and hardware IDs. Keys are JWK files (ES256 on P-256 or EdDSA on Ed25519).

Durations (--expires) accept Go syntax (72h, 90m) and days (365d).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root := &cobra.Command{
		Use:   "root",
		Short: "Create and rotate the OTA trust root",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.AddCommand(newOTARootInitCmd(), newOTARootRotateCmd())
	c.AddCommand(root, newOTASignCmd(), newOTAVerifyCmd())
	return c
}

// parseDuration accepts Go durations and a whole number of days ("365d").
func parseDuration(flag, s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 16)
		if err != nil || n == 0 {
			return 0, usagef("--%s: not a positive duration", flag)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, usagef("--%s: not a positive duration", flag)
	}
	return v, nil
}

func readSmallFile(flag, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--%s: %v", flag, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--%s: read: %w", flag, err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, checkFailed("too-large", fmt.Errorf("--%s: file exceeds %d bytes", flag, maxKeyFileBytes))
	}
	return b, nil
}

func loadPrivateKeys(flag string, paths []string) ([]*ota.PrivateKey, error) {
	var ks []*ota.PrivateKey
	for _, p := range paths {
		b, err := readSmallFile(flag, p)
		if err != nil {
			return nil, err
		}
		k, err := ota.ParsePrivateKey(b)
		if err != nil {
			return nil, usagef("--%s %s: %v", flag, filepath.Base(p), err)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func loadPublicKeys(flag string, paths []string) ([]*ota.PublicKey, error) {
	var ks []*ota.PublicKey
	for _, p := range paths {
		b, err := readSmallFile(flag, p)
		if err != nil {
			return nil, err
		}
		k, err := ota.ParsePublicKey(b)
		if err != nil {
			return nil, usagef("--%s %s: %v", flag, filepath.Base(p), err)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func setRole(r *ota.Root, role *ota.Role, keys []*ota.PublicKey, threshold int) {
	role.KeyIDs = nil
	seen := map[string]bool{}
	for _, k := range keys {
		id := r.AddKey(k)
		if !seen[id] {
			role.KeyIDs = append(role.KeyIDs, id)
			seen[id] = true
		}
	}
	role.Threshold = threshold
}

// pruneKeys drops keys no role references.
func pruneKeys(r *ota.Root) {
	used := map[string]bool{}
	for _, id := range append(append([]string{}, r.Roles.Root.KeyIDs...), r.Roles.Targets.KeyIDs...) {
		used[id] = true
	}
	for id := range r.Keys {
		if !used[id] {
			delete(r.Keys, id)
		}
	}
}

// writeOutput writes data to path with mode 0644 (signed documents are
// public), or to stdout for "-".
func writeOutput(cmd *cobra.Command, path string, data []byte) error {
	if path == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("--out: %w", errors.Unwrap(err))
	}
	return nil
}

// otaFailed reports a failed ota check, naming its rule (see ota.Rule).
func otaFailed(err error) error { return checkFailed(ota.Rule(err), err) }

func newOTARootInitCmd() *cobra.Command {
	var rootKeys, targetsKeys []string
	var rootThr, targetsThr int
	var expires, out string
	var version uint64
	c := &cobra.Command{
		Use:   "init",
		Short: "Create and sign version 1 of a trust root",
		Long: `Create a root document trusting the public parts of --root-key for the root
role and --targets-key for the targets role, and sign it with every
--root-key (private JWK files).

Example:
  iomt ota root init --root-key r1.jwk --root-key r2.jwk --root-threshold 2 \
    --targets-key t1.pub.jwk --targets-threshold 1 --expires 365d --out root.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(rootKeys) == 0 || len(targetsKeys) == 0 || out == "" || expires == "" {
				return usagef("--root-key, --targets-key, --expires and --out are required")
			}
			exp, err := parseDuration("expires", expires)
			if err != nil {
				return err
			}
			signers, err := loadPrivateKeys("root-key", rootKeys)
			if err != nil {
				return err
			}
			tk, err := loadPublicKeys("targets-key", targetsKeys)
			if err != nil {
				return err
			}
			r := &ota.Root{Version: version, Expires: time.Now().UTC().Add(exp).Truncate(time.Second)}
			var rk []*ota.PublicKey
			for _, s := range signers {
				rk = append(rk, s.Public())
			}
			setRole(r, &r.Roles.Root, rk, rootThr)
			setRole(r, &r.Roles.Targets, tk, targetsThr)
			b, err := ota.SignRoot(rand.Reader, r, signers)
			if err != nil {
				return usagef("root: %v", err)
			}
			return writeOutput(cmd, out, b)
		},
	}
	f := c.Flags()
	f.StringArrayVar(&rootKeys, "root-key", nil, "private JWK of a root key (repeatable); all of them sign")
	f.IntVar(&rootThr, "root-threshold", 1, "root signatures required")
	f.StringArrayVar(&targetsKeys, "targets-key", nil, "public (or private) JWK of a targets key (repeatable)")
	f.IntVar(&targetsThr, "targets-threshold", 1, "targets signatures required on a manifest")
	f.StringVar(&expires, "expires", "", "validity from now, e.g. 365d")
	f.StringVar(&out, "out", "", `output file ("-" for stdout)`)
	f.Uint64Var(&version, "version", 1, "root version")
	return c
}

func newOTARootRotateCmd() *cobra.Command {
	var oldRoot, out, expires string
	var rootKeys, newRootKeys, targetsKeys []string
	var rootThr, targetsThr int
	c := &cobra.Command{
		Use:   "rotate",
		Short: "Sign the next version of a trust root",
		Long: `Create root version N+1 from --root (version N) and sign it with a threshold
of the old root keys (--root-key) and of the new ones (--new-root-key), so
devices trusting version N accept it. Without --new-root-key the root keys
stay; without --targets-key the targets keys stay (rotating targets keys
revokes the old ones: manifests they signed stop verifying). Thresholds
default to the old ones.

Example:
  iomt ota root rotate --root root.json --root-key r1.jwk --root-key r2.jwk \
    --new-root-key r3.jwk --new-root-key r4.jwk --root-threshold 2 --out root2.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if oldRoot == "" || len(rootKeys) == 0 || out == "" {
				return usagef("--root, --root-key and --out are required")
			}
			exp, err := parseDuration("expires", expires)
			if err != nil {
				return err
			}
			rb, err := os.ReadFile(oldRoot)
			if err != nil {
				return usagef("--root: %v", errors.Unwrap(err))
			}
			prev, err := ota.ParseRoot(rb)
			if err != nil {
				return otaFailed(err)
			}
			oldSigners, err := loadPrivateKeys("root-key", rootKeys)
			if err != nil {
				return err
			}
			newSigners, err := loadPrivateKeys("new-root-key", newRootKeys)
			if err != nil {
				return err
			}
			next := &ota.Root{Version: prev.Version + 1, Expires: time.Now().UTC().Add(exp).Truncate(time.Second), Roles: prev.Roles, Keys: map[string]*ota.PublicKey{}}
			for id, k := range prev.Keys {
				next.Keys[id] = k
			}
			if !cmd.Flags().Changed("root-threshold") {
				rootThr = prev.Roles.Root.Threshold
			}
			if !cmd.Flags().Changed("targets-threshold") {
				targetsThr = prev.Roles.Targets.Threshold
			}
			if len(newSigners) > 0 {
				var nk []*ota.PublicKey
				for _, s := range newSigners {
					nk = append(nk, s.Public())
				}
				setRole(next, &next.Roles.Root, nk, rootThr)
			} else {
				next.Roles.Root.Threshold = rootThr
			}
			if len(targetsKeys) > 0 {
				tk, err := loadPublicKeys("targets-key", targetsKeys)
				if err != nil {
					return err
				}
				setRole(next, &next.Roles.Targets, tk, targetsThr)
			} else {
				next.Roles.Targets.Threshold = targetsThr
			}
			pruneKeys(next)
			b, err := ota.SignRootRotation(rand.Reader, prev, next, append(oldSigners, newSigners...))
			if err != nil {
				if errors.Is(err, ota.ErrSignatureThreshold) {
					return otaFailed(err)
				}
				return usagef("root: %v", err)
			}
			return writeOutput(cmd, out, b)
		},
	}
	f := c.Flags()
	f.StringVar(&oldRoot, "root", "", "current root document (version N)")
	f.StringArrayVar(&rootKeys, "root-key", nil, "private JWK of a current root key (repeatable)")
	f.StringArrayVar(&newRootKeys, "new-root-key", nil, "private JWK of a new root key (repeatable); replaces the root role's keys")
	f.IntVar(&rootThr, "root-threshold", 0, "root signatures required (default: the old threshold)")
	f.StringArrayVar(&targetsKeys, "targets-key", nil, "public JWK of a new targets key (repeatable); replaces the targets role's keys")
	f.IntVar(&targetsThr, "targets-threshold", 0, "targets signatures required (default: the old threshold)")
	f.StringVar(&expires, "expires", "365d", "validity from now")
	f.StringVar(&out, "out", "", `output file ("-" for stdout)`)
	return c
}

// progressReader reports progress to w every step bytes.
type progressReader struct {
	r           io.Reader
	w           io.Writer
	done, total int64
	next, step  int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.w != nil && (p.done >= p.next || (errors.Is(err, io.EOF) && p.done > 0)) {
		pct := int64(100)
		if p.total > 0 {
			pct = min(100, p.done*100/p.total)
		}
		fmt.Fprintf(p.w, "\r%d/%d MiB (%d%%)", p.done>>20, p.total>>20, pct)
		p.next = p.done + p.step
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(p.w)
			p.w = nil
		}
	}
	return n, err
}

// openImage opens path and wraps it with progress on stderr when asked
// (or, by default, when stderr is a terminal and the image is 64 MiB+).
func openImage(cmd *cobra.Command, path string, progress string) (io.Reader, *os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, usagef("--image: %v", errors.Unwrap(err))
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, 0, usagef("--image: not a regular file")
	}
	show := false
	switch progress {
	case "always":
		show = true
	case "never":
	case "auto":
		if sf, ok := cmd.ErrOrStderr().(*os.File); ok && fi.Size() >= 64<<20 {
			if st, err := sf.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				show = true
			}
		}
	default:
		f.Close()
		return nil, nil, 0, usagef("--progress: want auto, always or never")
	}
	var r io.Reader = f
	if show {
		r = &progressReader{r: f, w: cmd.ErrOrStderr(), total: fi.Size(), step: 8 << 20}
	}
	return r, f, fi.Size(), nil
}

func newOTASignCmd() *cobra.Command {
	var keys, hardware []string
	var image, name, version, expires, url, out, progress string
	var secVersion, manifestVersion uint64
	c := &cobra.Command{
		Use:   "sign",
		Short: "Sign a release manifest for a firmware image",
		Long: `Hash --image (streamed) and write a release manifest signed by every --key
(targets keys, private JWK files).

Example:
  iomt ota sign --key t1.jwk --image fw.img --name bpm-firmware --version 1.4.2 \
    --security-version 3 --hardware bpm-rev-c --manifest-version 7 --expires 30d \
    --url https://updates.example.com/fw-1.4.2.img --out manifest.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(keys) == 0 || image == "" || name == "" || version == "" || len(hardware) == 0 ||
				expires == "" || out == "" || !cmd.Flags().Changed("security-version") || !cmd.Flags().Changed("manifest-version") {
				return usagef("--key, --image, --name, --version, --security-version, --hardware, --manifest-version, --expires and --out are required")
			}
			exp, err := parseDuration("expires", expires)
			if err != nil {
				return err
			}
			signers, err := loadPrivateKeys("key", keys)
			if err != nil {
				return err
			}
			r, f, _, err := openImage(cmd, image, progress)
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			n, err := io.Copy(h, r)
			if err != nil {
				return fmt.Errorf("--image: read: %w", err)
			}
			m := &ota.Manifest{
				ManifestVersion: manifestVersion,
				Expires:         time.Now().UTC().Add(exp).Truncate(time.Second),
				Name:            name, Version: version, SecurityVersion: secVersion,
				Hardware: hardware, Length: n, SHA256: hex.EncodeToString(h.Sum(nil)), URL: url,
			}
			b, err := ota.SignManifest(rand.Reader, m, signers)
			if err != nil {
				return usagef("manifest: %v", err)
			}
			return writeOutput(cmd, out, b)
		},
	}
	fl := c.Flags()
	fl.StringArrayVar(&keys, "key", nil, "private JWK of a targets key (repeatable); all of them sign")
	fl.StringVar(&image, "image", "", "firmware image file")
	fl.StringVar(&name, "name", "", "firmware name")
	fl.StringVar(&version, "version", "", "firmware semantic version, e.g. 1.4.2")
	fl.Uint64Var(&secVersion, "security-version", 0, "anti-rollback security version")
	fl.StringArrayVar(&hardware, "hardware", nil, "hardware ID the image runs on (repeatable)")
	fl.Uint64Var(&manifestVersion, "manifest-version", 0, "manifest sequence number (must grow with each manifest)")
	fl.StringVar(&expires, "expires", "", "validity from now, e.g. 30d")
	fl.StringVar(&url, "url", "", "https URL devices download the image from")
	fl.StringVar(&out, "out", "", `output file ("-" for stdout)`)
	fl.StringVar(&progress, "progress", "auto", "progress on stderr: auto (terminal, 64 MiB+), always, never")
	return c
}

// installedRecord is written to the state directory by "ota verify --commit".
type installedRecord struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	ManifestVersion uint64 `json:"manifest_version"`
	SecurityVersion uint64 `json:"security_version"`
	SHA256          string `json:"sha256"`
	Length          int64  `json:"length"`
}

// verifyReport is printed on success.
type verifyReport struct {
	installedRecord
	RootVersion uint64 `json:"root_version"`
	Committed   bool   `json:"committed"`
}

func newOTAVerifyCmd() *cobra.Command {
	var roots []string
	var manifestPath, image, hardware, stateDir, progress string
	var commit bool
	c := &cobra.Command{
		Use:   "verify",
		Short: "Verify a manifest and image as a device would",
		Long: `Verify --manifest and --image against the trust root, in the device's order:
root chain, manifest signatures, expiry, manifest version, hardware ID,
security version, image length and SHA-256 (streamed). Prints a JSON summary.

The first --root is the trust anchor; further --root files are newer roots
(version N+1, N+2, ...) applied as rotations.

--state DIR makes verify behave like a device: DIR (created 0700) keeps the
trusted root (trusted.json, seeded from the first --root on first use; later
--root files older than the trusted one are ignored), the last manifest
version and the anti-rollback counter (counter). They are updated after a
successful verification; --commit also records the release as installed
(installed.json) and advances the counter to its security version.

Exit status 1 names the failed rule: signature, root-version, root-rotations,
expired, manifest-rollback, hardware, security-rollback, image-too-long,
image-truncated, image-digest, too-large, malformed, key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(roots) == 0 || manifestPath == "" || image == "" || hardware == "" {
				return usagef("--root, --manifest, --image and --hardware are required")
			}
			if commit && stateDir == "" {
				return usagef("--commit needs --state")
			}
			return runOTAVerify(cmd, roots, manifestPath, image, hardware, stateDir, progress, commit)
		},
	}
	f := c.Flags()
	f.StringArrayVar(&roots, "root", nil, "root document (repeatable: anchor, then rotations in order)")
	f.StringVar(&manifestPath, "manifest", "", "signed release manifest")
	f.StringVar(&image, "image", "", "firmware image file")
	f.StringVar(&hardware, "hardware", "", "this device's hardware ID")
	f.StringVar(&stateDir, "state", "", "device state directory (trusted root, manifest version, counter)")
	f.BoolVar(&commit, "commit", false, "record the release as installed and advance the counter (needs --state)")
	f.StringVar(&progress, "progress", "auto", "progress on stderr: auto (terminal, 64 MiB+), always, never")
	return c
}

func readDoc(flag, path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--%s: %v", flag, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("--%s: read: %w", flag, err)
	}
	if int64(len(b)) > limit {
		return nil, otaFailed(&ota.LimitError{Name: "Max" + strings.ToUpper(flag[:1]) + flag[1:] + "Bytes", Limit: limit})
	}
	return b, nil
}

func runOTAVerify(cmd *cobra.Command, roots []string, manifestPath, image, hardware, stateDir, progress string, commit bool) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var rootDocs [][]byte
	for _, p := range roots {
		b, err := readDoc("root", p, ota.MaxRootBytes)
		if err != nil {
			return err
		}
		rootDocs = append(rootDocs, b)
	}
	mb, err := readDoc("manifest", manifestPath, ota.MaxManifestBytes)
	if err != nil {
		return err
	}
	var (
		trust   *ota.FileTrustStore
		counter *ota.FileCounterStore
		state   ota.TrustedState
		cval    uint64
		updates = rootDocs[1:]
	)
	state.Root = rootDocs[0]
	if stateDir != "" {
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return fmt.Errorf("--state: %w", errors.Unwrap(err))
		}
		trust = ota.NewFileTrustStore(filepath.Join(stateDir, "trusted.json"))
		counter = ota.NewFileCounterStore(filepath.Join(stateDir, "counter"))
		st, err := trust.Load(ctx)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return otaFailed(fmt.Errorf("state: %w", err))
		default:
			state = st
			updates = rootDocs
		}
		if cval, err = counter.Load(ctx); err != nil {
			return otaFailed(fmt.Errorf("state: %w", err))
		}
	}
	v, err := ota.NewVerifier(ota.Config{HardwareID: hardware}, state, cval)
	if err != nil {
		var fe *ota.FieldError
		if errors.As(err, &fe) && fe.Doc == "config" {
			return usagef("--hardware: not a valid hardware ID")
		}
		return otaFailed(err)
	}
	for _, rd := range updates {
		if r, err := ota.ParseRoot(rd); err == nil && r.Version <= v.Root().Version {
			continue // already trusted or older: not a rotation
		}
		if err := v.UpdateRoot(rd); err != nil {
			return otaFailed(err)
		}
	}
	if _, err := v.VerifyManifest(mb); err != nil {
		return otaFailed(err)
	}
	r, f, _, err := openImage(cmd, image, progress)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := v.VerifyImage(r, nil); err != nil {
		return otaFailed(err)
	}
	res, err := v.Result()
	if err != nil {
		return otaFailed(err)
	}
	m := res.Manifest
	rep := verifyReport{
		installedRecord: installedRecord{Name: m.Name, Version: m.Version, ManifestVersion: m.ManifestVersion,
			SecurityVersion: m.SecurityVersion, SHA256: m.SHA256, Length: m.Length},
		RootVersion: res.Root.Version,
	}
	if trust != nil {
		if err := trust.Save(ctx, res.State); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		if commit {
			b, _ := json.MarshalIndent(rep.installedRecord, "", "  ")
			if err := os.WriteFile(filepath.Join(stateDir, "installed.json"), append(b, '\n'), 0o600); err != nil {
				return fmt.Errorf("state: %w", errors.Unwrap(err))
			}
			if err := counter.Advance(ctx, m.SecurityVersion); err != nil {
				return otaFailed(err)
			}
			rep.Committed = true
		}
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(out))
	return err
}
