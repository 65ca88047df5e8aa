// Package publisher is the device side of the telemetry transport: it sends
// a device's signed envelopes to the cloud over MQTT v5 at QoS 1 with mutual
// TLS, from a durable outbox, so that no reading is lost to a Wi-Fi drop, a
// broker restart, a crash or a dead battery.
//
// # Delivery
//
// [Publisher.PublishEnvelope] appends the envelope to the outbox (package
// outbox) and returns once it is fsynced. A background loop claims entries
// while connected, publishes them at QoS 1 (at most Config.MaxInFlight at
// once) and removes each one only when its PUBACK arrives. Entries that fail
// (timeout, lost connection, the broker forgetting the session) go back to
// the outbox and are sent again: delivery is at least once, and the cloud
// ingest stores idempotently on (device, seq). Entries the broker refuses
// for good (not authorized, invalid topic, packet too large, payload format
// invalid) are moved to StateDir/rejected and counted in Stats.Rejected, so
// one bad message cannot wedge the queue.
//
// The MQTT session is persistent: the client ID is the device UUID, the
// session expiry is positive (a week by default) and paho's session state is
// kept in files under StateDir/session, so in-flight messages survive a
// reconnect. Reconnects use jittered exponential backoff.
//
// # Security
//
// TLS 1.2 or later with a client certificate is required; the certificate is
// read through tls.Config.GetClientCertificate on every connection, so a
// rotated certificate is picked up on the next connect. Plaintext needs
// Config.InsecurePlaintext. A publisher only publishes under its own
// iomt/v1/{deviceID}/ topics ([ErrTopic] otherwise); brokers should bind the
// certificate to that prefix as well.
//
// # Footprint
//
// The package links no SQL driver and starts no server: a device binary
// pays for paho.golang, the outbox and the standard library. (autopaho's
// WebSocket transport links net/http's client code; no listener is ever
// opened.)
//
// # AWS IoT Core
//
// Config.AWSIoT sets ALPN x-amzn-mqtt-ca (use port 443) and enforces its
// 128 KiB payload and 256-byte, 8-level topic limits.
package publisher
