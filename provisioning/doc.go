// Package provisioning takes a device from the factory to a trusted,
// patient-linked member of the fleet: device identity, manufacturer CA,
// enrolment by single-use claim token, the encrypted Bluetooth pairing
// payload, and the device registry contract.
//
// # The path of one device
//
//  1. Factory: the device generates its key ([GenerateKey], ECDSA P-256 by
//     default, or Ed25519) and a pairing key ([GeneratePairingKey]); the
//     factory registers its UUID and pairing public key in the [Registry]
//     (status provisioned).
//  2. Registration: the phone app registers the patient with the cloud,
//     which stores the PHI in the PHI silo, gets back a random patient UUID,
//     and issues an enrolment token bound to device and patient
//     ([TokenIssuer]).
//  3. Pairing: the device starts a [PairingSession] and offers its one-time
//     nonce over BLE. The cloud seals a [PairingPayload] — Wi-Fi
//     credentials, patient UUID, broker and enrolment URLs, token, nonce —
//     signed with the provisioning key (JWS ES256) and encrypted to the
//     device's pairing key (JWE ECDH-ES+A256KW / A256GCM) with a
//     [PairingSealer] (served to logged-in patients' phones by
//     provisioning/enroll.PairingHandler). The phone relays it, split by [SplitFrames] over the
//     negotiated MTU; the device reassembles it ([Reassembler]), decrypts
//     and verifies it (signature, audience, nonce, expiry) and stores the
//     patient UUID in its [IdentityStore].
//  4. Enrolment: the device sends the token and a CSR ([NewCSR]) over HTTPS
//     to the enrolment server (package provisioning/enroll), which verifies
//     the token ([TokenVerifier]), consumes it once ([TokenLedger]), has the
//     [CA] issue a short-lived certificate for exactly the token's device,
//     and records it in the registry (status active).
//  5. Operation: the device connects to the broker with mutual TLS
//     ([DeviceTLSConfig]); the cloud side requires and verifies client
//     certificates and consults the registry or a CRL on every handshake
//     ([NewServerTLSConfig], [RevocationChecker]). Telemetry envelopes
//     verify under the registry's device key.
//  6. Rotation: before expiry the device re-enrols with its current
//     certificate as proof; only the newest certificate stays in good
//     standing.
//  7. Revocation and decommissioning ([Registry.Revoke],
//     [Registry.Decommission]) stop the device's enrolment, connections
//     and telemetry at once; decommissioning removes the patient binding.
//
// # Cloud certificates and fleet listing
//
// The same [CA] type also issues the cloud's own certificates: TLS server
// certificates for the broker and APIs ([CA.IssueServerCertificate]) and
// client certificates for cloud services such as ingest workers
// ([CA.IssueServiceCertificate]), shaped so that a service certificate can
// never pass as a device nor a device certificate as a service
// ([IdentifyPeer]). [NewServerTLSConfig] with ServiceCAs admits both, each
// only from its own CAs. Fleet views page through a registry with
// [DeviceLister].
//
// # What this closes that claim-based schemes leave open
//
// A token enrols one named device once, and only for a CSR naming that
// device: it is not a fleet-wide claim certificate. The pairing payload is
// authenticated (anyone can encrypt to a public key, so encryption alone
// proves nothing) and bound to a nonce the device chose, so a recorded
// payload cannot be replayed later or to another device.
//
// # Footprint
//
// This package is imported by device firmware. It has no SQL drivers and
// no HTTP server of its own: the registries live in
// provisioning/registry/..., the enrolment server and client in
// provisioning/enroll.
//
// # Errors
//
// Every failure wraps one of the Err sentinels in an [*Error] naming the
// operation and the field, never the value, so errors are safe to log.
// Every size an attacker controls has a named maximum: [MaxCSRSize],
// [MaxTokenSize], [MaxPairingSize], [MaxFramedMessage], [MaxCRLSize],
// [MaxIdentityFileSize], [MaxChainLength].
package provisioning
