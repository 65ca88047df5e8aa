package ble

import (
	"bytes"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// glucoseVector: sequence 5, base 2026-01-01 07:00:00, offset +15 min,
// 95 mg/dL as 95×10⁻⁵ kg/L, capillary whole blood from a finger, sensor
// status 0x0001 (battery low), context follows.
const glucoseVector = "1B 05 00 EA 07 01 01 07 00 00 0F 00 5F B0 11 01 00"

func TestDecodeGlucose(t *testing.T) {
	m, err := DecodeGlucose(mustHex(t, glucoseVector))
	if err != nil {
		t.Fatal(err)
	}
	want := GlucoseMeasurement{
		Glucose: iomt.Glucose{Concentration: 95, Unit: iomt.MgPerDL,
			MeasuredAt: time.Date(2026, 1, 1, 7, 15, 0, 0, time.UTC)},
		Sequence: 5, TimeOffset: 15, HasTimeOffset: true, HasConcentration: true,
		Type: TypeCapillaryWholeBlood, Location: LocationFinger,
		SensorStatus: 1, HasSensorStatus: true, ContextFollows: true,
	}
	if m != want {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	enc, err := AppendGlucose(nil, m)
	if err != nil || !bytes.Equal(enc, mustHex(t, glucoseVector)) {
		t.Fatalf("re-encoded % X, %v", enc, err)
	}
}

func TestDecodeGlucoseMmolPerL(t *testing.T) {
	// 5.3 mmol/L as 53×10⁻⁴ mol/L; no offset, no status.
	b := mustHex(t, "06 01 00 EA 07 01 01 07 00 00 35 C0 11")
	m, err := DecodeGlucose(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Unit != iomt.MmolPerL || m.Concentration != 5.3 {
		t.Fatalf("got %v %v", m.Concentration, m.Unit)
	}
	enc, err := AppendGlucose(nil, m)
	if err != nil || !bytes.Equal(enc, b) {
		t.Fatalf("re-encoded % X, %v", enc, err)
	}
}

func TestDecodeGlucoseNegativeTimeOffset(t *testing.T) {
	b := mustHex(t, glucoseVector)
	b[10], b[11] = 0xF1, 0xFF // -15 minutes
	m, err := DecodeGlucose(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 1, 6, 45, 0, 0, time.UTC); !m.MeasuredAt.Equal(want) {
		t.Fatalf("MeasuredAt %v, want %v", m.MeasuredAt, want)
	}
}

func TestDecodeGlucoseTruncated(t *testing.T) {
	full := mustHex(t, glucoseVector)
	cases := []struct {
		cut   int
		field string
		at    int
	}{
		{0, "flags", 0}, {2, "sequence_number", 1}, {5, "base_time", 3}, {11, "time_offset", 10},
		{13, "concentration", 12}, {14, "type_sample_location", 14}, {16, "sensor_status", 15},
	}
	for _, c := range cases {
		_, err := DecodeGlucose(full[:c.cut])
		wantFieldError(t, err, ErrTruncated, c.field, c.at)
	}
}

func TestDecodeGlucoseTrailingData(t *testing.T) {
	_, err := DecodeGlucose(append(mustHex(t, glucoseVector), 0))
	wantFieldError(t, err, ErrTrailingData, "value", 17)
}

func TestDecodeGlucoseTooLong(t *testing.T) {
	_, err := DecodeGlucose(make([]byte, MaxAttributeLen+1))
	wantFieldError(t, err, ErrTooLong, "value", 0)
}

func TestDecodeGlucoseReserved(t *testing.T) {
	b := mustHex(t, glucoseVector)
	b[0] |= 0x40
	_, err := DecodeGlucose(b)
	wantFieldError(t, err, ErrReserved, "flags", 0)

	for _, tl := range []byte{0x10, 0x1B, 0x51} { // type 0, type 11, location 5
		b = mustHex(t, glucoseVector)
		b[14] = tl
		_, err = DecodeGlucose(b)
		wantFieldError(t, err, ErrReserved, "type_sample_location", 14)
	}
	b = mustHex(t, glucoseVector)
	b[16] = 0x10 // sensor status bit 12
	_, err = DecodeGlucose(b)
	wantFieldError(t, err, ErrReserved, "sensor_status", 15)
}

func TestDecodeGlucoseBaseTimeOutOfRange(t *testing.T) {
	b := mustHex(t, glucoseVector)
	b[7] = 24
	_, err := DecodeGlucose(b)
	wantFieldError(t, err, ErrOutOfRange, "base_time.hours", 7)
}

func TestDecodeGlucoseSpecialConcentration(t *testing.T) {
	b := mustHex(t, glucoseVector)
	b[12], b[13] = 0xFF, 0x07
	_, err := DecodeGlucose(b)
	wantFieldError(t, err, ErrSpecialValue, "concentration", 12)
}

func TestAppendGlucoseErrors(t *testing.T) {
	m := GlucoseMeasurement{HasConcentration: true, Type: 1, Location: 1}
	m.Concentration = 95
	m.Unit = 9
	_, err := AppendGlucose(nil, m)
	wantFieldError(t, err, ErrOutOfRange, "unit", -1)
	m.Unit, m.Type = iomt.MgPerDL, 0
	_, err = AppendGlucose(nil, m)
	wantFieldError(t, err, ErrReserved, "type_sample_location", -1)
	m.Type, m.HasSensorStatus, m.SensorStatus = 1, true, 0x8000
	_, err = AppendGlucose(nil, m)
	wantFieldError(t, err, ErrReserved, "sensor_status", -1)
	m.SensorStatus, m.Concentration = 0, posInf()
	_, err = AppendGlucose(nil, m)
	wantFieldError(t, err, ErrSpecialValue, "concentration", -1)
	m.Concentration = 1e17 // 10¹² kg/L: beyond 2047×10⁷
	_, err = AppendGlucose(nil, m)
	wantFieldError(t, err, ErrOutOfRange, "concentration", -1)
}

func TestDateTime(t *testing.T) {
	want := time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC)
	b, err := AppendDateTime(nil, want)
	if err != nil || !bytes.Equal(b, mustHex(t, "EA 07 01 01 08 1E 00")) {
		t.Fatalf("% X, %v", b, err)
	}
	got, err := DecodeDateTime(b)
	if err != nil || !got.Equal(want) {
		t.Fatalf("%v, %v", got, err)
	}
	_, err = DecodeDateTime(b[:6])
	wantFieldError(t, err, ErrTruncated, "date_time", 6)
	_, err = DecodeDateTime(append(b, 0))
	wantFieldError(t, err, ErrTrailingData, "date_time", 7)
	_, err = DecodeDateTime(make([]byte, MaxAttributeLen+1))
	wantFieldError(t, err, ErrTooLong, "value", 0)
	zero, err := AppendDateTime(nil, time.Time{})
	if err != nil || !bytes.Equal(zero, make([]byte, 7)) {
		t.Fatalf("zero time % X, %v", zero, err)
	}
	if got, err := DecodeDateTime(zero); err != nil || !got.IsZero() {
		t.Fatalf("unknown date %v, %v", got, err)
	}
	// 29 February exists only in leap years.
	if _, err := DecodeDateTime(mustHex(t, "E8 07 02 1D 00 00 00")); err != nil {
		t.Fatalf("2024-02-29: %v", err)
	}
	_, err = DecodeDateTime(mustHex(t, "E9 07 02 1D 00 00 00"))
	wantFieldError(t, err, ErrOutOfRange, "day", 3)
}

func TestCharacteristicString(t *testing.T) {
	if s := BloodPressureMeasurementCharacteristic.String(); s != "0x2A35" {
		t.Fatal(s)
	}
}

func TestDaysIn(t *testing.T) {
	for y := MinDateTimeYear; y <= 2500; y++ {
		for m := 1; m <= 12; m++ {
			want := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
			if got := daysIn(y, m); got != want {
				t.Fatalf("daysIn(%d, %d) = %d, want %d", y, m, got, want)
			}
		}
	}
}
