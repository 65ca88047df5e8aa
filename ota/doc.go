// Package ota verifies and installs firmware updates for medical devices:
// a threshold-signed trust root with rotation, signed release manifests, a
// streaming image verifier, an anti-rollback counter, an A/B slot updater
// with trial boot, and a resumable HTTPS downloader.
//
// The design follows TUF (roles, thresholds, root rotation, expiry,
// fast-forward recovery), SUIT (sequence numbers, device class condition,
// image size and digest), MCUboot (security counter advanced only on
// confirm) and Mender/RAUC (A/B slots, commit after a health check).
//
// # Documents
//
// A [Root] lists public keys (JWK, identified by their RFC 7638 thumbprint)
// and, for the roles "root" and "targets", which keys may sign and how many
// must. A [Manifest] describes one release: name, semantic version,
// manifest_version, security_version, hardware IDs, exact length, SHA-256
// and URL. Both are JSON, signed as JWS JSON general serialization (RFC 7515
// section 7.2.1) with ES256 or EdDSA; each key counts once toward a
// threshold, whatever the number of signatures it made. Every document has a
// named size limit (MaxRootBytes, MaxManifestBytes, MaxSignatures, …).
// Release tooling uses [SignRoot] and [SignManifest].
//
// # Verifying
//
// A [Verifier] is a pure, single-use state machine over bytes and readers.
// Starting from the device's [TrustedState] and anti-rollback counter, it
// walks newer roots ([Verifier.UpdateRoot], each N+1 signed by a threshold
// of N's root keys and of its own), checks the manifest
// ([Verifier.VerifyManifest]: signatures, expiry with an injected clock,
// manifest version, hardware ID, security version), then streams the image
// ([Verifier.VerifyImage]: exactly length bytes, SHA-256 compared in
// constant time, never held in memory). Only then does [Verifier.Result]
// hand back the state to persist. Each rule has its own sentinel error:
// [ErrSignatureThreshold], [ErrRootVersion], [ErrTooManyRotations],
// [ErrExpired], [ErrManifestRollback], [ErrHardwareIncompatible],
// [ErrSecurityRollback], [ErrImageTooLong], [ErrImageTruncated],
// [ErrImageDigest], [ErrMalformed], [ErrTooLarge].
//
// # State
//
// [TrustStore] keeps the trusted root and manifest version ([FileTrustStore]
// writes one file atomically). [CounterStore] keeps the anti-rollback
// counter ([FileCounterStore]; a TPM NV counter or secure element can
// implement it). The counter advances only when an update is committed.
//
// # Installing
//
// [Updater] drives an A/B update over a [Slots] device and a [Bootloader]:
// idle → downloading → verified → installed → trial → committed, or rolled
// back. Each step is written to a journal before it takes effect, so a power
// cut at any point resumes or falls back to a verified image. The new slot
// is verified from its own bytes after it is written (verify what you
// install), the bootloader tries it once, a boot-attempt limit reverts a
// slot that never comes up, and only a passing health check commits it and
// advances the counter. [Downloader] fetches images over HTTPS with Range
// resume, bounded jittered retries and a progress callback.
//
// Nothing in this package starts a server or touches a database; device
// binaries can link it.
package ota
