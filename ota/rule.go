package ota

import "errors"

// rules maps each sentinel to a stable, value-free label, most specific
// first.
var rules = []struct {
	err  error
	rule string
}{
	{ErrSignatureThreshold, "signature"},
	{ErrRootVersion, "root-version"},
	{ErrTooManyRotations, "root-rotations"},
	{ErrExpired, "expired"},
	{ErrManifestRollback, "manifest-rollback"},
	{ErrHardwareIncompatible, "hardware"},
	{ErrSecurityRollback, "security-rollback"},
	{ErrCounterDecrease, "security-rollback"},
	{ErrImageTooLong, "image-too-long"},
	{ErrImageTruncated, "image-truncated"},
	{ErrImageDigest, "image-digest"},
	{ErrHealthCheck, "health-check"},
	{ErrBootAttempts, "boot-attempts"},
	{ErrUpdateInProgress, "update-in-progress"},
	{ErrDownload, "download"},
	{ErrTooLarge, "too-large"},
	{ErrKey, "key"},
	{ErrMalformed, "malformed"},
	{ErrVerifierState, "verifier-state"},
	{errAborted, "aborted"},
}

// Rule returns a short label naming the rule err broke ("signature",
// "expired", "image-digest", "health-check", …), for status reports and
// CLI messages; "ota" when err matches no sentinel of this package. Labels
// never contain values from the input.
func Rule(err error) string {
	for _, r := range rules {
		if errors.Is(err, r.err) {
			return r.rule
		}
	}
	return "ota"
}
