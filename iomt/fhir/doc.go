// Package fhir turns openiomt readings into HL7 FHIR R4 Observation
// resources, so that a cloud backend can share them with an electronic
// health record.
//
// # Mapping
//
// [NewObservations] maps one [Record] — a reading with its device, patient
// and sequence number — to Observations following the FHIR R4 vital-signs
// profiles:
//
//   - [iomt.BloodPressure]: a blood pressure panel (LOINC 85354-9, profile
//     http://hl7.org/fhir/StructureDefinition/bp) with systolic (8480-6) and
//     diastolic (8462-4) components in UCUM mm[Hg], plus, when measured, a
//     mean arterial pressure component coded both as LOINC 8478-0 and as
//     IEEE 11073-10101 MDC_PRESS_BLD_NONINV_MEAN (150023). Readings in kPa
//     are converted to mm[Hg] and rounded to 0.1 mm[Hg], because the profile
//     requires mm[Hg]. A measured pulse rate becomes a second, separate heart
//     rate Observation.
//   - [iomt.HeartRate]: a heart rate Observation (LOINC 8867-4, UCUM /min,
//     profile http://hl7.org/fhir/StructureDefinition/heartrate).
//   - [iomt.Glucose]: LOINC 2339-0 in mg/dL or 15074-8 in mmol/L, in the
//     reading's own unit, with category "laboratory" (glucose is not a vital
//     sign and has no base profile).
//
// Every Observation has status "final", subject Patient/<patient UUID>,
// device Device/<device UUID> and effectiveDateTime = the measurement time
// in RFC 3339 with its offset. Nothing else about the patient is included:
// the patient UUID is the only link, resolved by the PHI silo.
//
// # Deterministic identifiers
//
// Observation ids are name-based (version 5, SHA-1) UUIDs in the namespace
// [ObservationNamespace] of the name "<device UUID>/<seq>/<part>", where part
// is "bp", "pulse", "hr" or "glucose". Exporting the same reading twice
// yields the same ids, so a transaction [Bundle] of PUT requests is
// idempotent: re-exports update instead of duplicating. The ids reveal
// nothing but what the device UUID and sequence number already do.
//
// # Bundles
//
// [NewBundle] maps up to [MaxBundleEntries] records into a "collection" or
// "transaction" Bundle. A record that fails makes the whole call fail with a
// [*RecordError] carrying its index, so nothing is exported half.
//
// # Errors
//
// Errors wrap [ErrMissingID], [ErrInvalidReading] (with the iomt validation
// sentinel also reachable through errors.Is), [ErrUnsupportedReading],
// [ErrTooManyRecords] or [ErrBundleType]. Messages name fields and rules,
// never values.
//
// All functions are pure and safe for concurrent use.
package fhir
