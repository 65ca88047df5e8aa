package ota

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Config configures a [Verifier]. The zero value is not usable: HardwareID
// is required. A Verifier copies its Config; changing it afterwards has no
// effect.
type Config struct {
	// HardwareID is this device's hardware ID; the manifest must list it.
	HardwareID string
	// Now returns the current time for expiry checks. Nil means time.Now.
	// Devices without a trusted clock should feed a monotonic lower bound
	// (e.g. the build time of the running firmware, or the last time seen).
	Now func() time.Time
	// MaxRootRotations bounds the roots one update may walk through.
	// Zero means DefaultMaxRootRotations.
	MaxRootRotations int
	// MaxImageLength bounds the manifest's length (the slot size). Zero
	// means DefaultMaxImageLength.
	MaxImageLength int64
}

// TrustedState is what a device persists between updates (see
// [FileTrustStore]). The anti-rollback counter is kept apart, in a
// [CounterStore], because it may live in hardware.
type TrustedState struct {
	// Root is the signed root document the device trusts.
	Root []byte
	// ManifestVersion is the highest manifest_version accepted; zero if none.
	ManifestVersion uint64
}

// Result is what a successful verification yields.
type Result struct {
	// State is the trusted state to persist: the newest root and the
	// accepted manifest_version.
	State TrustedState
	// Root is the parsed newest trusted root.
	Root *Root
	// Manifest is the accepted manifest.
	Manifest *Manifest
	// RootRotated reports whether State.Root differs from the input.
	RootRotated bool
}

type verifierStep int

const (
	stepRoots verifierStep = iota
	stepManifest
	stepDone
	stepFailed
)

// Verifier is a single-use state machine over bytes and readers; it does no
// I/O of its own. Call, in order:
//
//  1. [Verifier.UpdateRoot] zero or more times, once per newer root (N+1, N+2…);
//  2. [Verifier.VerifyManifest] once;
//  3. [Verifier.VerifyImage] once;
//  4. [Verifier.Result] to obtain the state to persist.
//
// The checks run in this order: root chain, manifest signatures, expiry
// (root and manifest), manifest version, hardware ID, security version,
// image length and digest. The first failure is returned and the Verifier
// fails closed: every later call returns [ErrVerifierState]. No trusted state
// is produced unless every check passed. A Verifier is not safe for
// concurrent use.
type Verifier struct {
	cfg       Config
	step      verifierStep
	rootBytes []byte
	root      *Root
	mver      uint64
	counter   uint64
	rotations int
	rotated   bool
	manifest  *Manifest
	digest    []byte
}

// NewVerifier returns a Verifier starting from state (the device's trusted
// root and last manifest version) and counter (the anti-rollback counter).
// The trusted root must be signed by a threshold of its own root keys; its
// expiry is checked later, after any rotation.
func NewVerifier(cfg Config, state TrustedState, counter uint64) (*Verifier, error) {
	if !validLabel(cfg.HardwareID) {
		return nil, &FieldError{Doc: "config", Field: "HardwareID"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRootRotations <= 0 {
		cfg.MaxRootRotations = DefaultMaxRootRotations
	}
	if cfg.MaxImageLength <= 0 {
		cfg.MaxImageLength = DefaultMaxImageLength
	}
	root, _, err := decodeRoot(state.Root)
	if err != nil {
		return nil, fmt.Errorf("ota: trusted root: %w", err)
	}
	return &Verifier{
		cfg:       cfg,
		rootBytes: bytes.Clone(state.Root),
		root:      root,
		mver:      state.ManifestVersion,
		counter:   counter,
	}, nil
}

func (v *Verifier) fail(err error) error {
	v.step = stepFailed
	return err
}

func (v *Verifier) expect(s verifierStep) error {
	if v.step != s {
		return ErrVerifierState
	}
	return nil
}

// Root returns the currently trusted root (after rotations so far).
func (v *Verifier) Root() *Root { return v.root }

// UpdateRoot applies one root rotation: next must have version N+1 and be
// signed by a threshold of the trusted root's root keys and by a threshold
// of its own root keys. Intermediate roots may have expired; the final one
// is checked in VerifyManifest. When the rotation revokes a targets key or
// raises the targets threshold, the trusted manifest version resets to zero
// (fast-forward recovery: a manifest version inflated with a compromised
// key must not lock the device out after the key is rotated away).
func (v *Verifier) UpdateRoot(next []byte) error {
	if err := v.expect(stepRoots); err != nil {
		return v.fail(err)
	}
	if v.rotations >= v.cfg.MaxRootRotations {
		return v.fail(fmt.Errorf("%w (MaxRootRotations %d)", ErrTooManyRotations, v.cfg.MaxRootRotations))
	}
	d, err := parseJWS(next, TypeRoot, "MaxRootBytes", MaxRootBytes)
	if err != nil {
		return v.fail(err)
	}
	nr, err := parseRootPayload(d.payload)
	if err != nil {
		return v.fail(err)
	}
	if err := v.root.checkRole(d, "root", v.root.Roles.Root); err != nil {
		return v.fail(err)
	}
	if v.root.Version == ^uint64(0) || nr.Version != v.root.Version+1 {
		return v.fail(ErrRootVersion)
	}
	if err := nr.checkRole(d, "root", nr.Roles.Root); err != nil {
		return v.fail(err)
	}
	if v.root.targetsRevoked(nr) {
		v.mver = 0
	}
	v.root, v.rootBytes, v.rotated = nr, bytes.Clone(next), true
	v.rotations++
	return nil
}

// VerifyManifest checks a signed manifest against the trusted root, in
// order: signatures (targets threshold), expiry of root and manifest,
// manifest version, hardware ID, security version, and the length limit.
func (v *Verifier) VerifyManifest(data []byte) (*Manifest, error) {
	if err := v.expect(stepRoots); err != nil {
		return nil, v.fail(err)
	}
	m, d, err := decodeManifest(data)
	if err != nil {
		return nil, v.fail(err)
	}
	if err := v.root.checkRole(d, "targets", v.root.Roles.Targets); err != nil {
		return nil, v.fail(err)
	}
	now := v.cfg.Now()
	if !now.Before(v.root.Expires) {
		return nil, v.fail(fmt.Errorf("%w: root version %d", ErrExpired, v.root.Version))
	}
	if !now.Before(m.Expires) {
		return nil, v.fail(fmt.Errorf("%w: manifest", ErrExpired))
	}
	if m.ManifestVersion < v.mver {
		return nil, v.fail(fmt.Errorf("%w: manifest_version %d below trusted %d", ErrManifestRollback, m.ManifestVersion, v.mver))
	}
	if !slices.Contains(m.Hardware, v.cfg.HardwareID) {
		return nil, v.fail(ErrHardwareIncompatible)
	}
	if m.SecurityVersion < v.counter {
		return nil, v.fail(fmt.Errorf("%w: security_version %d below counter %d", ErrSecurityRollback, m.SecurityVersion, v.counter))
	}
	if m.Length > v.cfg.MaxImageLength {
		return nil, v.fail(&LimitError{Name: "MaxImageLength", Limit: v.cfg.MaxImageLength})
	}
	v.digest, _ = m.Digest()
	v.manifest = m
	v.step = stepManifest
	return m, nil
}

// verifyBufSize is the streaming buffer: the only per-image allocation.
const verifyBufSize = 32 << 10

// VerifyImage streams r, requiring exactly the manifest's length and
// SHA-256. It reads at most length+1 bytes (so endless data stops there),
// never holds the image in memory, and compares digests in constant time.
// When w is non-nil the first length bytes are also written to w as they
// are read (tee into a slot); a failed check means w holds rejected bytes.
// Verify what you install: pass the reader of the bytes that will run.
func (v *Verifier) VerifyImage(r io.Reader, w io.Writer) error {
	if err := v.expect(stepManifest); err != nil {
		return v.fail(err)
	}
	if err := checkImage(r, w, v.manifest.Length, v.digest); err != nil {
		return v.fail(err)
	}
	v.step = stepDone
	return nil
}

// checkImage is the streaming length and digest check.
func checkImage(r io.Reader, w io.Writer, length int64, digest []byte) error {
	h := sha256.New()
	lr := io.LimitReader(r, length+1)
	buf := make([]byte, verifyBufSize)
	var n int64
	for {
		k, err := lr.Read(buf)
		if k > 0 {
			if n+int64(k) > length {
				return &ImageError{Err: ErrImageTooLong, Read: n + int64(k), Length: length}
			}
			n += int64(k)
			h.Write(buf[:k])
			if w != nil {
				if _, werr := w.Write(buf[:k]); werr != nil {
					return fmt.Errorf("ota: write image: %w", werr)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("ota: read image: %w", err)
		}
	}
	if n < length {
		return &ImageError{Err: ErrImageTruncated, Read: n, Length: length}
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), digest) != 1 {
		return &ImageError{Err: ErrImageDigest, Read: n, Length: length}
	}
	return nil
}

// Result returns the verified manifest and the trusted state to persist.
// It fails with [ErrVerifierState] unless every check passed.
func (v *Verifier) Result() (*Result, error) {
	if v.step != stepDone {
		return nil, ErrVerifierState
	}
	return &Result{
		State:       TrustedState{Root: bytes.Clone(v.rootBytes), ManifestVersion: v.manifest.ManifestVersion},
		Root:        v.root,
		Manifest:    v.manifest,
		RootRotated: v.rotated,
	}, nil
}
