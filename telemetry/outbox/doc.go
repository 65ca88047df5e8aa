// Package outbox is the device's durable queue of signed telemetry: every
// envelope is on stable storage before the publisher reports it accepted, and
// leaves only when the broker has acknowledged it (MQTT PUBACK).
//
// autopaho's own file queue drops a message once it is handed to the MQTT
// session, before the broker acknowledges it, so a crash at the wrong moment
// loses it. This outbox closes that gap. It stores opaque bytes with their
// topic and knows nothing about envelopes.
//
// # Lifecycle of an entry
//
//	Append  → written to the active segment and fsynced (group commit: one
//	          fsync covers every concurrent Append), then pending
//	Claim   → in flight (handed to MQTT); not returned by Claim again
//	Release → pending again (the publish failed or the connection dropped)
//	Ack     → removed (PUBACK received); an acknowledgement record is
//	          appended without fsync, because losing it only causes a
//	          duplicate publish that the idempotent ingest absorbs
//
// # On disk
//
// The directory (mode 0700) holds numbered segment files of checksummed
// records (CRC-32C), a LOCK file held with flock while open, and a
// quarantine directory. Segments are deleted oldest first once all their
// entries are acknowledged; when one old, unacknowledged entry would pin many
// segments, its record is copied forward and the old segment deleted, so disk
// use stays near twice Config.MaxBytes.
//
// # Crashes and power loss
//
// Open replays the segments. A record cut short at the end of a segment (a
// write interrupted by power loss) or one failing its checksum is copied to
// quarantine/, cut out of its segment by an atomic rewrite, logged and
// reported by [Outbox.Quarantined] — once; it is never retried. Records
// after a corrupt one are recovered by scanning for the next valid record.
// Every entry whose Append returned is recovered, whatever point a SIGKILL
// or power cut interrupted.
//
// # Limits
//
// Config.MaxEntries and Config.MaxBytes bound the unacknowledged entries;
// Append past them fails with [ErrOutboxFull] and nothing is dropped.
// Config.MaxEntryBytes bounds one payload ([ErrTooLarge]).
//
// All methods of [Outbox] are safe for concurrent use.
package outbox
