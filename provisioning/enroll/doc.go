// Package enroll is enrolment over HTTPS: the cloud's [Server] (an
// http.Handler) and the device's [Client].
//
// # Pairing
//
// Before a device can enrol, the phone app of a logged-in patient asks the
// cloud for a pairing payload: [PairingHandler] (POST /v1/pairings) checks
// the patient session, the device (registered with a pairing key, not
// revoked, unbound or bound to this patient) and the one-time nonce the
// device offered, then issues a single-use enrolment token for exactly
// that device and patient and returns it, with the Wi-Fi settings and the
// broker and enrolment URLs, in a payload signed by the provisioning key
// and encrypted to the device's pairing key. The phone relays it over BLE
// (provisioning.SplitFrames); the device opens it with its
// provisioning.PairingSession.
//
// # First enrolment
//
// The device holds an enrolment token from its pairing payload. It sends
// the token and a CSR naming itself to POST /v1/enroll. The server checks,
// in order: the per-source rate limit, the body limit, the CSR (signature,
// device UUID as CN and urn:uuid SAN), the token (signature, issuer,
// audience, lifetime, bound to the CSR's device), the registry (device
// registered, not revoked), single use (the token ID is consumed in the
// registry's ledger), and only then has the CA issue a short-lived
// certificate for exactly that device, recorded in the registry as its
// current certificate together with the token's patient binding.
//
// # Re-enrolment (certificate rotation)
//
// Before its certificate expires the device sends a CSR — for a new key or
// the same one — to POST /v1/reenroll over mutual TLS with its current
// certificate. The server requires that certificate to be the device's
// current one in the registry and the CSR to name the same device; the new
// certificate replaces it, so a stolen older certificate is useless.
//
// # Deployment
//
// Serve the handler with a TLS configuration from
// provisioning.NewServerTLSConfig with OptionalClientCert set. The
// server holds no per-fleet state in memory except the rate limiter's
// bounded table: any number of instances may share one registry.
//
// This package links net/http's server; device firmware that only needs
// the client still imports it, but the provisioning package itself does
// not.
package enroll

import "time"

const defaultClientTimeout = 30 * time.Second
