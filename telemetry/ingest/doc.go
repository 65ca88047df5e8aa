// Package ingest is the cloud side of the telemetry transport: workers that
// consume every device's readings from a shared MQTT v5 subscription,
// verify them, store them idempotently and acknowledge each message to the
// broker only after its reading is committed.
//
// # Exactly-once storage
//
// Each [Ingest] subscribes with $share/{group}/iomt/v1/+/telemetry/+ at
// QoS 1 with manual acknowledgement (paho's EnableManualAcknowledgment).
// A message flows
//
//	receive → Verifier.Check (parallel) → batch → Store.Insert (commit)
//	        → Verifier.Commit (replay window) → PUBACK to the broker
//
// so a crash at any point leaves the message unacknowledged and the broker
// delivers it again; the store's (device, seq) key turns the redelivery into
// a counted duplicate. Verifier.Check records nothing, so a reading whose
// commit failed is still accepted when it comes back. Store failures are
// retried with backoff and never acknowledged. Workers use a persistent
// session (Config.ClientID, Config.SessionExpiry): a restarted worker gets
// back the messages it had not acknowledged; whether a broker also hands a
// dead worker's in-flight messages to the other group members depends on
// the broker (MQTT 5 says it should once the session ends).
//
// MQTT requires acknowledgements in receive order, so paho holds back an
// acknowledgement until all earlier ones are sent; batches keep that wait
// short. Config.MaxInFlight is the Receive Maximum announced to the broker
// and bounds memory.
//
// # Rejections
//
// An envelope that fails verification, is larger than Config.MaxEnvelope,
// arrives on a topic that is not iomt/v1/{device}/telemetry/{kind} or whose
// device differs from the envelope's is counted by reason, logged without
// its payload, optionally published to Config.DeadLetterTopic/{reason}, and
// acknowledged, so a poison message cannot wedge the subscription.
//
// # Metrics
//
// With Config.Registerer, each worker exports (label worker=ClientID):
// iomt_ingest_received_total, iomt_ingest_stored_total,
// iomt_ingest_duplicates_total, iomt_ingest_rejected_total{reason},
// iomt_ingest_commit_seconds, iomt_ingest_commit_failures_total and
// iomt_ingest_dead_letter_failures_total.
//
// # Scale
//
// Workers are stateless apart from their replay window; run as many as the
// broker and database allow against one shared subscription. Nothing holds
// per-fleet state in memory.
package ingest
