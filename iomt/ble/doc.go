// Package ble encodes and decodes the Bluetooth Low Energy GATT
// characteristics that medical devices in the openiomt SDK speak, and the
// IEEE 11073-20601 number formats they are built from.
//
// # Number formats
//
// [SFloat] is the 16-bit SFLOAT (4-bit exponent, 12-bit mantissa) and [Float]
// the 32-bit FLOAT (8-bit exponent, 24-bit mantissa) of IEEE 11073-20601,
// both base 10. Each defines five special values — NaN, NRes (not at this
// resolution), +INFINITY, −INFINITY and a reserved value — reported by
// [SFloat.Special] and [Float.Special]. [NewSFloat] and [NewFloat] choose the
// shortest exact encoding of a value, rounding only when none exists.
//
// # Characteristics
//
//   - Blood Pressure Measurement (0x2A35): [DecodeBloodPressure],
//     [AppendBloodPressure], decoding into an [iomt.BloodPressure] held by a
//     [BloodPressureMeasurement] that adds the user ID.
//   - Heart Rate Measurement (0x2A37): [DecodeHeartRate], [AppendHeartRate].
//   - Glucose Measurement (0x2A18): [DecodeGlucose], [AppendGlucose].
//   - Date Time (0x2A08), the timestamp format inside them: [DecodeDateTime],
//     [AppendDateTime].
//
// Decoders check the encoding, not physiology: flags with reserved bits, a
// value shorter or longer than its flags announce, an impossible date or a
// special value where a number is required each fail with a
// [*FieldError] naming the characteristic, field and byte offset, wrapping
// one of the sentinels [ErrTruncated], [ErrTrailingData], [ErrTooLong],
// [ErrReserved], [ErrOutOfRange] or [ErrSpecialValue]. Call Validate on the
// decoded reading to check physiological bounds. No input makes a decoder
// panic, and no input longer than [MaxAttributeLen] is read.
//
// Error messages name fields and offsets, never values, so they are safe to
// log next to readings that are linked to a patient.
//
// # Times
//
// The Date Time format carries wall-clock fields without a time zone.
// Decoders return them as a [time.Time] in UTC; when a device's clock runs on
// local time, reinterpret the fields in the right location with [time.Date].
// Encoders write the wall-clock fields of the time as given, in its own
// location. A Date Time whose year, month and day are all 0 ("unknown")
// decodes as the zero time, and the zero time encodes as such.
//
// # Allocation
//
// Decoding a Blood Pressure or Glucose Measurement allocates nothing: the
// result is returned by value. The Append functions allocate only when dst
// lacks capacity. All functions are safe for concurrent use.
package ble
