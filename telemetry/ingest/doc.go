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
// back the messages it had not acknowledged.
//
// # Crashed workers
//
// MQTT 5 lets a broker keep a dead shared-subscription member's
// unacknowledged messages in its session, and the common brokers do.
// Measured with a worker whose connection dies holding unacknowledged QoS 1
// messages (see TestCrashedWorkerMessagesRedeliveredToSurvivors):
//
//   - Mosquitto 2.0, session expiry 0: the session ends with the
//     connection and its unacknowledged and queued messages are discarded;
//     no other member receives them (lost).
//   - Mosquitto 2.0, session expiry > 0: they stay in the dead session, and
//     the broker keeps routing the dead member its round-robin share of new
//     messages, queued until it returns or the session expires (then lost,
//     or dropped earlier beyond max_queued_messages).
//   - mochi-mqtt 2.7: the same in both cases.
//
// Hence the persistent session, and Config.Takeover for workers that may
// not come back (scaled down, node lost). With Takeover each worker
// publishes "alive", retained, on PresenceTopic(Group, ClientID), with a
// Will that makes the broker publish "dead" there if the connection dies
// without DISCONNECT. Every worker watches the group's presence. When a
// worker is dead for Config.TakeoverDelay, one survivor (chosen by
// rendezvous hashing over the live workers) connects with the dead
// worker's ClientID and clean start off, so the broker resumes that
// session and re-sends its unacknowledged and queued messages; it
// unsubscribes the shared filter at once (no new messages are routed to
// the session), runs everything through its own pipeline (verify, commit,
// then acknowledge), and once the session has been quiet for a second with
// everything acknowledged, disconnects with session expiry 0 and clears
// the presence. If the dead worker returns meanwhile, the broker hands it
// its session and closes the survivor's takeover connection (mochi with
// "Session taken over"; Mosquitto 2.0 without a DISCONNECT, so a takeover
// connection lost while the survivor's own connection stays up counts as
// taken over). The survivor then stops and does not reconnect with that
// ClientID until the peer is "alive" (the takeover ends) or, in case the
// replacing connection was another survivor that crashed, for
// max(4×TakeoverDelay, 30s); what it had received but not acknowledged is
// redelivered to the returned worker (see
// TestCrashedWorkerReturnsDuringTakeover). A worker that sees its own
// presence cleared or "dead" while connected publishes "alive" again. A
// takeover interrupted by the survivor's own crash leaves the session and
// the "dead" presence for another survivor. Any message handled twice on the way is a counted
// duplicate in the store. Close publishes a cleared presence when it
// drained everything and "dead" when it gave up with messages pending.
//
// Takeover needs ACL rights for each worker to connect with the group's
// other ClientIDs and to publish and subscribe under PresencePrefix.
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
