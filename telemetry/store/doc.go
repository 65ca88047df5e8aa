// Package store keeps telemetry readings for charts and clinical review:
// the [Store] interface and two implementations, [SQLite] (embedded, a
// single file) and [Postgres] (pgx/v5, for many ingest workers and scale
// past one machine).
//
// # Exactly-once storage
//
// MQTT QoS 1 delivers at least once: after a crash of the device, broker or
// ingest worker, a reading can arrive twice, possibly at two workers at the
// same moment. Every Store is idempotent on (DeviceID, Seq): the first copy
// is stored, later copies are counted as duplicates and skipped, never
// updated. Insert is atomic per batch and returns only after the commit is
// durable, so an ingest that acknowledges to the broker after Insert
// returns nil loses nothing and duplicates nothing.
//
// # No PHI
//
// The readings table has exactly these columns: device UUID, sequence
// number, patient UUID, measurement time, kind, and the reading's numbers
// as JSON. Insert refuses data holding any string value, the same rule the
// telemetry PHI guard enforces on the device, so a name or phone number
// cannot reach the table even if an upstream check was bypassed. Only the
// PHI silo can join a patient UUID to a person.
//
// # Limits
//
// [MaxBatch] readings per Insert, [MaxDataBytes] of data per reading,
// [MaxLimit] rows per query. Invalid input fails with a [*ReadingError]
// (wrapping [ErrInvalidReading]) that names the reading and field, never the
// value.
//
// # Conformance
//
// Package storetest holds the suite both implementations run; a third
// backend should run it too.
//
// All implementations are safe for concurrent use.
package store
