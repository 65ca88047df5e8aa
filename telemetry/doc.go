// Package telemetry implements the openiomt telemetry envelope: a reading
// signed by the device that took it, carrying only UUIDs and numbers, that
// the cloud verifies before it stores anything.
//
// # The envelope
//
// An envelope is a JWS in compact serialization (RFC 7515) with the
// protected header
//
//	{"alg":"ES256"|"EdDSA","kid":DEVICE-UUID,"typ":"iomt-telemetry+jws"}
//
// and the payload
//
//	{"v":1,"dev":UUID,"pat":UUID,"seq":N,"ts":RFC3339Nano,"kind":"blood_pressure","data":{...}}
//
// Any JOSE library verifies it with the device's public JWK (as written by
// [MarshalPublicJWK]); the tests prove it with go-jose/v4 and jwx/v3, both
// ways. The schema is closed: unknown header parameters and payload members
// are rejected, and "data" holds only the numeric members of the reading
// type for "kind". Only ES256 (P-256) and EdDSA (Ed25519) exist here;
// "none", HMAC and every other algorithm are refused, and the algorithm
// must match the type of the key registered for the device.
//
// The package signs, verifies and reads JWKs with crypto/ecdsa,
// crypto/ed25519 and a strict codec for its two key types, not with a
// general JOSE library: the format is fixed, strictness is the point, and
// device binaries stay small (no net/http).
//
// # Device side
//
// A [Signer] holds the device key (any crypto.Signer, so a secure element
// works), the device and patient UUIDs and a [SequenceStore]. Use a
// [FileSequence] on devices: it reserves sequence numbers in blocks with
// fsync and rename, so a crash or power cut never makes the device reuse a
// number. [Signer.Sign] validates the reading, runs the PHI guard and
// returns an [Envelope] to publish on [Envelope.Topic].
//
// # Cloud side
//
// A [Verifier] resolves the key by "kid" through a [KeyResolver] (the
// device registry, a [MemoryResolver], or a JWK set file via
// [LoadJWKSFile]) and checks size, strict JWS syntax and header, the
// topic's device, device status, algorithm, signature, payload schema and
// PHI guard, that "kid" equals "dev" (and, if the registry pairs devices
// with patients, that "pat" is the paired patient), the topic's kind, the
// reading's physiological validity, time bounds against an injected clock,
// and the per-device [ReplayWindow]. Each rejection is a [*VerifyError]
// wrapping its own sentinel ([ErrBadSignature], [ErrReplay], [ErrPHI], …);
// [Rule] names it for logs and metrics. Error messages name fields, never
// values.
//
// The replay window is recorded only after every other check passed. An
// ingest that acknowledges the broker after its database commit uses
// [Verifier.Check], stores, then [Verifier.Commit], so that a failed store
// never turns the redelivered envelope into a "replay". [ReplayWindow]
// explains why per-process windows are safe behind a shared subscription
// when the store is idempotent on (device, seq), and how to share one.
//
// # PHI guard
//
// Envelopes travel through brokers and databases that must never hold
// Protected Health Information. [CheckData] keeps "data" numeric, and
// [DetectPHI] flags strings shaped like emails, phone numbers, social
// security numbers, dates or names wherever a string appears in a place it
// should not. Signer and Verifier both run the guard.
//
// # Limits
//
// Every attacker-controlled cost is bounded: [DefaultMaxEnvelopeSize]
// (configurable), a 512-byte protected header, 16 members in "data",
// [MaxJWKSize], [MaxJWKSSize] and [MaxJWKSKeys] for key files, and
// [MemoryReplayConfig] for replay state (window and device count).
//
// # Topics
//
// [Topic], [ParseTopic], [OTAStatusTopic] and [SharedSubscription] spell
// the MQTT topics of the SDK contract: iomt/v1/{device}/telemetry/{kind}
// and iomt/v1/{device}/ota/status.
package telemetry
