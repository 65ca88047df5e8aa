package ble

import (
	"encoding/binary"
	"time"
)

// DateTimeLen is the length of a Date Time (0x2A08) value.
const DateTimeLen = 7

// Year bounds of the Date Time characteristic; 0 means "unknown".
const (
	MinDateTimeYear = 1582
	MaxDateTimeYear = 9999
)

// DecodeDateTime decodes a Date Time (0x2A08) value: year (uint16), month,
// day, hours, minutes, seconds. It returns the wall-clock fields as a UTC
// time, or the zero time when year, month and day are all 0 (unknown). A
// partly unknown date, an impossible date such as 30 February, or an hour,
// minute or second out of range fails with [ErrOutOfRange]; a value of the
// wrong length with [ErrTruncated] or [ErrTrailingData].
func DecodeDateTime(b []byte) (time.Time, error) {
	c := DateTimeCharacteristic
	if len(b) > MaxAttributeLen {
		return time.Time{}, &FieldError{c, "value", 0, ErrTooLong}
	}
	if len(b) < DateTimeLen {
		return time.Time{}, &FieldError{c, "date_time", len(b), ErrTruncated}
	}
	if len(b) > DateTimeLen {
		return time.Time{}, &FieldError{c, "date_time", DateTimeLen, ErrTrailingData}
	}
	return decodeDateTime(c, "", b, 0)
}

// decodeDateTime decodes the 7 bytes of b[off:] that callers checked exist.
// prefix qualifies field names inside another characteristic.
func decodeDateTime(c Characteristic, prefix string, b []byte, off int) (time.Time, error) {
	year := int(binary.LittleEndian.Uint16(b[off:]))
	month, day := int(b[off+2]), int(b[off+3])
	hour, minute, sec := int(b[off+4]), int(b[off+5]), int(b[off+6])
	bad := func(field string, at int) (time.Time, error) {
		return time.Time{}, &FieldError{c, prefix + field, at, ErrOutOfRange}
	}
	switch {
	case hour > 23:
		return bad("hours", off+4)
	case minute > 59:
		return bad("minutes", off+5)
	case sec > 59:
		return bad("seconds", off+6)
	}
	if year == 0 && month == 0 && day == 0 {
		return time.Time{}, nil
	}
	switch {
	case year < MinDateTimeYear || year > MaxDateTimeYear:
		return bad("year", off)
	case month < 1 || month > 12:
		return bad("month", off+2)
	case day < 1 || day > daysIn(year, month):
		return bad("day", off+3)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), nil
}

// daysIn returns the length of month (1–12) in the proleptic Gregorian
// calendar, which Date Time uses from its first year, 1582.
func daysIn(year, month int) int {
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return int(monthDays[month])
}

var monthDays = [13]uint8{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// AppendDateTime appends the Date Time (0x2A08) encoding of t's wall-clock
// fields in t's own location; sub-second parts are truncated. The zero time
// encodes as the all-unknown value. A year outside 1582–9999 fails with
// [ErrOutOfRange].
func AppendDateTime(dst []byte, t time.Time) ([]byte, error) {
	return appendDateTime(dst, DateTimeCharacteristic, "", t)
}

func appendDateTime(dst []byte, c Characteristic, prefix string, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return append(dst, 0, 0, 0, 0, 0, 0, 0), nil
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < MinDateTimeYear || y > MaxDateTimeYear {
		return dst, &FieldError{c, prefix + "year", -1, ErrOutOfRange}
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(y))
	return append(dst, byte(mo), byte(d), byte(h), byte(mi), byte(s)), nil
}
