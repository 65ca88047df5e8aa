// Package iomt holds the core domain types every other openiomt package
// shares: device and patient identifiers, the measurement types a connected
// medical device reports, their units, physiological validation, and the
// error vocabulary for all of it.
//
// # Identifiers
//
// [DeviceID] and [PatientID] are random UUIDs (version 4, or version 7 where
// time order helps). They are never derived from patient data, so that a
// reading tagged with a PatientID carries no Protected Health Information
// (HIPAA 45 CFR 164.514(c)). They marshal as canonical lowercase strings and
// parse strictly: only the 36-character hyphenated form, lowercase, with the
// RFC 9562 variant and version 4 or 7, and never the nil UUID. One UUID
// therefore has exactly one spelling, which keeps signature key IDs, topic
// names and database keys unambiguous.
//
// # Measurements
//
// [BloodPressure], [HeartRate] and [Glucose] are plain values with a [Kind]
// (the telemetry "kind"), a measurement time and a Validate method that checks
// physiological bounds and rejects NaN and infinities. All of them implement
// [Reading]. Their JSON form holds only numbers — units and status flags are
// numeric codes — because the telemetry PHI guard rejects every string inside
// a reading's data. The measurement time is not part of the JSON form: the
// telemetry envelope carries it.
//
// # Errors
//
// Validation failures wrap one of the sentinels [ErrOutOfRange],
// [ErrNotFinite], [ErrInconsistent], [ErrUnknownUnit] or [ErrMissingTime] in
// a [*ValidationError] naming the field; identifier parsing fails with
// [ErrInvalidID]. Error messages name fields and rules, never values, so they
// are safe to log.
//
// All types in this package are values without hidden state and are safe for
// concurrent use.
package iomt
