package enroll

import (
	"context"
	"errors"
	"net/http"

	"github.com/openiomt/sdk/provisioning"
)

// Error codes in the server's JSON error body.
const (
	CodeBadRequest          = "bad_request"
	CodeTooLarge            = "too_large"
	CodeRateLimited         = "rate_limited"
	CodeTokenInvalid        = "token_invalid"
	CodeTokenExpired        = "token_expired"
	CodeTokenReplayed       = "token_replayed"
	CodeDeviceMismatch      = "device_mismatch"
	CodeUnknownDevice       = "unknown_device"
	CodeRevoked             = "revoked"
	CodeCSRInvalid          = "csr_invalid"
	CodeCertificateRequired = "certificate_required"
	CodeInternal            = "internal"
)

// ErrRateLimited reports a request refused by the per-source rate limit.
var ErrRateLimited = errors.New("enroll: rate limited")

// ErrServer reports an internal server error or an unexpected answer.
var ErrServer = errors.New("enroll: server error")

// Error is a refusal by the enrolment server, as seen by the client. Err
// is the provisioning sentinel matching Code, for errors.Is.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the server's error code, one of the Code constants.
	Code string
	// Err is the matching sentinel (provisioning.ErrReplay for
	// "token_replayed", …).
	Err error
}

// Error implements error.
func (e *Error) Error() string { return "enroll: server refused: " + e.Code }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

var codeSentinels = map[string]error{
	CodeBadRequest:          provisioning.ErrMalformed,
	CodeTooLarge:            provisioning.ErrTooLarge,
	CodeRateLimited:         ErrRateLimited,
	CodeTokenInvalid:        provisioning.ErrBadSignature,
	CodeTokenExpired:        provisioning.ErrExpired,
	CodeTokenReplayed:       provisioning.ErrReplay,
	CodeDeviceMismatch:      provisioning.ErrDeviceMismatch,
	CodeUnknownDevice:       provisioning.ErrUnknownDevice,
	CodeRevoked:             provisioning.ErrRevoked,
	CodeCSRInvalid:          provisioning.ErrInvalidCSR,
	CodeCertificateRequired: provisioning.ErrRevoked,
	CodeInternal:            ErrServer,
	CodeUnauthenticated:     ErrUnauthenticated,
	CodeDeviceBound:         ErrDeviceBound,
	CodeNonceReplayed:       provisioning.ErrReplay,
}

func statusOf(code string) int {
	switch code {
	case CodeBadRequest, CodeCSRInvalid:
		return http.StatusBadRequest
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeTokenInvalid, CodeTokenExpired, CodeCertificateRequired, CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodeTokenReplayed, CodeDeviceBound, CodeNonceReplayed:
		return http.StatusConflict
	case CodeDeviceMismatch, CodeUnknownDevice, CodeRevoked:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// codeFor maps a provisioning error to a code. Token errors other than
// expiry and replay all read "token_invalid", so a prober learns nothing
// about which check failed.
func codeFor(err error) string {
	switch {
	case errors.Is(err, provisioning.ErrReplay):
		return CodeTokenReplayed
	case errors.Is(err, provisioning.ErrExpired):
		return CodeTokenExpired
	case errors.Is(err, provisioning.ErrDeviceMismatch):
		return CodeDeviceMismatch
	case errors.Is(err, provisioning.ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, provisioning.ErrInvalidCSR), errors.Is(err, provisioning.ErrUnsupportedKey):
		return CodeCSRInvalid
	case errors.Is(err, provisioning.ErrBadSignature), errors.Is(err, provisioning.ErrWrongAudience):
		return CodeTokenInvalid
	case errors.Is(err, provisioning.ErrMalformed):
		return CodeBadRequest
	case errors.Is(err, provisioning.ErrUnknownDevice):
		return CodeUnknownDevice
	case errors.Is(err, provisioning.ErrRevoked):
		return CodeRevoked
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return CodeInternal
	}
	return CodeInternal
}
