package ble

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// knownBP is the reference vector of issue 2: 120/80/93 mmHg,
// 2026-01-01 08:30:00, pulse 72, user 1, status 0.
const knownBP = "1E 78 00 50 00 5D 00 EA 07 01 01 08 1E 00 48 00 01 00 00"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeBloodPressureKnownVector(t *testing.T) {
	m, err := DecodeBloodPressure(mustHex(t, knownBP))
	if err != nil {
		t.Fatal(err)
	}
	want := BloodPressureMeasurement{
		BloodPressure: iomt.BloodPressure{
			Systolic: 120, Diastolic: 80, MeanArterial: 93, Unit: iomt.MmHg, Pulse: 72, Status: 0,
			MeasuredAt: time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC),
		},
		UserID: 1, HasUserID: true, HasStatus: true,
	}
	if m != want {
		t.Fatalf("decoded %+v\nwant    %+v", m, want)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("known vector does not validate: %v", err)
	}
	enc, err := AppendBloodPressure(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, mustHex(t, knownBP)) {
		t.Fatalf("re-encoded % X\nwant         %s", enc, knownBP)
	}
}

func TestDecodeBloodPressureMinimalKPa(t *testing.T) {
	// flags: kPa only; 16.0 / 10.7 kPa, MAP NaN (not available).
	b := []byte{0x01, 0xA0, 0xF0, 0x6B, 0xF0, 0xFF, 0x07}
	m, err := DecodeBloodPressure(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Unit != iomt.KPa || m.Systolic != 16 || m.Diastolic != 10.7 || m.MeanArterial != 0 {
		t.Fatalf("decoded %+v", m)
	}
	if !m.MeasuredAt.IsZero() || m.Pulse != 0 || m.HasUserID || m.HasStatus {
		t.Fatalf("absent fields set: %+v", m)
	}
	enc, err := AppendBloodPressure(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	// 16.0 re-encodes in its shortest form, 16×10⁰.
	want := []byte{0x01, 0x10, 0x00, 0x6B, 0xF0, 0xFF, 0x07}
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoded % X, want % X", enc, want)
	}
}

func TestDecodeBloodPressureStatusFlags(t *testing.T) {
	b := mustHex(t, knownBP)
	b[17] = 0x25 // body movement, irregular pulse, improper position
	m, err := DecodeBloodPressure(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []iomt.MeasurementStatus{iomt.StatusBodyMovement, iomt.StatusIrregularPulse, iomt.StatusImproperPosition} {
		if !m.Status.Has(f) {
			t.Errorf("status lacks %#x", f)
		}
	}
	if m.Status.Has(iomt.StatusCuffTooLoose) {
		t.Error("cuff flag set")
	}
}

// wantFieldError checks err is a *FieldError for field at offset wrapping
// sentinel, and that its message carries no digits of the measurement.
func wantFieldError(t *testing.T, err, sentinel error, field string, offset int) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err %T is not *FieldError", err)
	}
	if fe.Field != field || fe.Offset != offset {
		t.Fatalf("error at %s/%d, want %s/%d", fe.Field, fe.Offset, field, offset)
	}
	if !strings.HasPrefix(err.Error(), "ble: ") {
		t.Fatalf("message %q lacks the package prefix", err)
	}
}

func TestDecodeBloodPressureEmpty(t *testing.T) {
	_, err := DecodeBloodPressure(nil)
	wantFieldError(t, err, ErrTruncated, "flags", 0)
}

func TestDecodeBloodPressureTruncated(t *testing.T) {
	full := mustHex(t, knownBP)
	fields := []struct {
		cut   int
		field string
		at    int
	}{
		{1, "systolic", 1}, {2, "systolic", 1}, {4, "diastolic", 3}, {6, "mean_arterial", 5},
		{7, "timestamp", 7}, {13, "timestamp", 7}, {14, "pulse_rate", 14}, {15, "pulse_rate", 14},
		{16, "user_id", 16}, {17, "measurement_status", 17}, {18, "measurement_status", 17},
	}
	for _, f := range fields {
		_, err := DecodeBloodPressure(full[:f.cut])
		wantFieldError(t, err, ErrTruncated, f.field, f.at)
	}
}

func TestDecodeBloodPressureTrailingData(t *testing.T) {
	b := append(mustHex(t, knownBP), 0x00)
	_, err := DecodeBloodPressure(b)
	wantFieldError(t, err, ErrTrailingData, "value", 19)
}

func TestDecodeBloodPressureTooLong(t *testing.T) {
	b := make([]byte, MaxAttributeLen+1)
	_, err := DecodeBloodPressure(b)
	wantFieldError(t, err, ErrTooLong, "value", 0)
}

func TestDecodeBloodPressureReservedFlags(t *testing.T) {
	for _, bit := range []byte{0x20, 0x40, 0x80} {
		b := mustHex(t, knownBP)
		b[0] |= bit
		_, err := DecodeBloodPressure(b)
		wantFieldError(t, err, ErrReserved, "flags", 0)
	}
}

func TestDecodeBloodPressureReservedStatusBits(t *testing.T) {
	b := mustHex(t, knownBP)
	b[18] = 0x01 // status bit 8
	_, err := DecodeBloodPressure(b)
	wantFieldError(t, err, ErrReserved, "measurement_status", 17)

	b = mustHex(t, knownBP)
	b[17] = 0x18 // pulse rate range 0b11 is reserved
	_, err = DecodeBloodPressure(b)
	wantFieldError(t, err, ErrReserved, "measurement_status", 17)
}

func TestDecodeBloodPressureTimestampOutOfRange(t *testing.T) {
	cases := []struct {
		at    int
		v     byte
		field string
	}{
		{9, 13, "timestamp.month"},
		{10, 32, "timestamp.day"},
		{11, 24, "timestamp.hours"},
		{12, 60, "timestamp.minutes"},
		{13, 60, "timestamp.seconds"},
	}
	for _, c := range cases {
		b := mustHex(t, knownBP)
		b[c.at] = c.v
		_, err := DecodeBloodPressure(b)
		wantFieldError(t, err, ErrOutOfRange, c.field, c.at)
	}
	b := mustHex(t, knownBP)
	b[9], b[10] = 2, 30 // 30 February
	_, err := DecodeBloodPressure(b)
	wantFieldError(t, err, ErrOutOfRange, "timestamp.day", 10)

	b = mustHex(t, knownBP)
	b[7], b[8] = 0x2E, 0x06 // year 1582 is the first allowed
	if _, err := DecodeBloodPressure(b); err != nil {
		t.Fatalf("year 1582: %v", err)
	}
	b[7] = 0x2D // 1581
	_, err = DecodeBloodPressure(b)
	wantFieldError(t, err, ErrOutOfRange, "timestamp.year", 7)

	b = mustHex(t, knownBP)
	b[9] = 0 // month unknown but year and day known
	_, err = DecodeBloodPressure(b)
	wantFieldError(t, err, ErrOutOfRange, "timestamp.month", 9)
}

func TestDecodeBloodPressureUnknownTimestamp(t *testing.T) {
	b := mustHex(t, knownBP)
	copy(b[7:14], []byte{0, 0, 0, 0, 8, 30, 0})
	m, err := DecodeBloodPressure(b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.MeasuredAt.IsZero() {
		t.Fatalf("unknown date decoded as %v", m.MeasuredAt)
	}
}

func TestDecodeBloodPressureSpecialValues(t *testing.T) {
	cases := []struct {
		at    int
		raw   SFloat
		field string
	}{
		{1, SFloatNaN, "systolic"},
		{1, SFloatPosInf, "systolic"},
		{3, SFloatNRes, "diastolic"},
		{5, SFloatNegInf, "mean_arterial"},
		{5, SFloatReserved, "mean_arterial"},
		{14, SFloatPosInf, "pulse_rate"},
		{14, SFloatNRes, "pulse_rate"},
	}
	for _, c := range cases {
		b := mustHex(t, knownBP)
		b[c.at], b[c.at+1] = byte(c.raw), byte(c.raw>>8)
		_, err := DecodeBloodPressure(b)
		wantFieldError(t, err, ErrSpecialValue, c.field, c.at)
	}
	// NaN means "not available" for the optional MAP and pulse rate.
	b := mustHex(t, knownBP)
	b[5], b[6], b[14], b[15] = 0xFF, 0x07, 0xFF, 0x07
	m, err := DecodeBloodPressure(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.MeanArterial != 0 || m.Pulse != 0 {
		t.Fatalf("NaN MAP/pulse decoded as %v/%v", m.MeanArterial, m.Pulse)
	}
}

func TestDecodeBloodPressureErrorsHideValues(t *testing.T) {
	// The systolic value 0x0123 = 291 must not appear in any error.
	b := []byte{0x00, 0x23, 0x01, 0x50}
	_, err := DecodeBloodPressure(b)
	if err == nil || strings.Contains(err.Error(), "291") {
		t.Fatalf("error %q", err)
	}
}

func TestAppendBloodPressureErrors(t *testing.T) {
	base := BloodPressureMeasurement{BloodPressure: iomt.BloodPressure{Systolic: 120, Diastolic: 80}}
	prefix := []byte{0xAA}
	check := func(name string, m BloodPressureMeasurement, sentinel error, field string) {
		t.Helper()
		out, err := AppendBloodPressure(prefix, m)
		if !bytes.Equal(out, prefix) {
			t.Errorf("%s: dst changed on error", name)
		}
		if !errors.Is(err, sentinel) {
			t.Fatalf("%s: err = %v, want %v", name, err, sentinel)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || fe.Offset != -1 {
			t.Fatalf("%s: err = %#v", name, err)
		}
	}
	m := base
	m.Unit = 7
	check("unit", m, ErrOutOfRange, "unit")
	m = base
	m.Systolic = 1e12
	check("systolic too large", m, ErrOutOfRange, "systolic")
	m = base
	m.Diastolic = posInf()
	check("diastolic inf", m, ErrSpecialValue, "diastolic")
	m = base
	m.Pulse = nan()
	check("pulse NaN", m, ErrSpecialValue, "pulse_rate")
	m = base
	m.Status = 0x40
	check("status", m, ErrReserved, "measurement_status")
	m = base
	m.MeasuredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	check("year", m, ErrOutOfRange, "timestamp.year")
}

func TestAppendBloodPressureAppends(t *testing.T) {
	m, err := DecodeBloodPressure(mustHex(t, knownBP))
	if err != nil {
		t.Fatal(err)
	}
	out, err := AppendBloodPressure([]byte{0xAA}, m)
	if err != nil || out[0] != 0xAA || !bytes.Equal(out[1:], mustHex(t, knownBP)) {
		t.Fatalf("% X, %v", out, err)
	}
}
