package ble

import (
	"bytes"
	"reflect"
	"testing"
)

func TestDecodeHeartRate(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want HeartRateMeasurement
	}{
		{"uint8", []byte{0x00, 72}, HeartRateMeasurement{}},
		{"uint16 contact detected", []byte{0x07, 0x2C, 0x01}, HeartRateMeasurement{Wide: true, Contact: ContactDetected}},
		{"energy and rr", []byte{0x18, 60, 0x10, 0x00, 0x00, 0x04, 0x00, 0x02}, HeartRateMeasurement{
			HasEnergyExpended: true, EnergyExpended: 16, RRIntervals: []uint16{1024, 512}}},
	}
	cases[0].want.BPM = 72
	cases[1].want.BPM = 300
	cases[2].want.BPM = 60
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeHeartRate(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			enc, err := AppendHeartRate(nil, got)
			if err != nil || !bytes.Equal(enc, c.in) {
				t.Fatalf("re-encoded % X, %v; want % X", enc, err, c.in)
			}
		})
	}
	if !ContactDetected.Supported() || ContactNotSupported1.Supported() {
		t.Error("Supported wrong")
	}
}

func TestDecodeHeartRateTruncated(t *testing.T) {
	cases := []struct {
		in    []byte
		field string
		at    int
	}{
		{nil, "flags", 0},
		{[]byte{0x00}, "heart_rate", 1},
		{[]byte{0x01, 0x48}, "heart_rate", 1},
		{[]byte{0x08, 0x48, 0x01}, "energy_expended", 2},
		{[]byte{0x10, 0x48}, "rr_interval", 2},                   // flagged but empty
		{[]byte{0x10, 0x48, 0x00, 0x04, 0x01}, "rr_interval", 4}, // odd length
	}
	for _, c := range cases {
		_, err := DecodeHeartRate(c.in)
		wantFieldError(t, err, ErrTruncated, c.field, c.at)
	}
}

func TestDecodeHeartRateTrailingData(t *testing.T) {
	_, err := DecodeHeartRate([]byte{0x00, 0x48, 0x00})
	wantFieldError(t, err, ErrTrailingData, "value", 2)
}

func TestDecodeHeartRateReservedFlags(t *testing.T) {
	_, err := DecodeHeartRate([]byte{0x20, 0x48})
	wantFieldError(t, err, ErrReserved, "flags", 0)
}

func TestDecodeHeartRateTooLong(t *testing.T) {
	b := make([]byte, MaxAttributeLen+2)
	b[0] = 0x10
	_, err := DecodeHeartRate(b)
	wantFieldError(t, err, ErrTooLong, "value", 0)
	// The longest legal value carries MaxRRIntervals intervals.
	b = make([]byte, 2+2*MaxRRIntervals)
	b[0] = 0x10
	m, err := DecodeHeartRate(b)
	if err != nil || len(m.RRIntervals) != MaxRRIntervals {
		t.Fatalf("%d intervals, %v", len(m.RRIntervals), err)
	}
}

func TestAppendHeartRateErrors(t *testing.T) {
	var m HeartRateMeasurement
	m.BPM = nan()
	_, err := AppendHeartRate(nil, m)
	wantFieldError(t, err, ErrSpecialValue, "heart_rate", -1)
	m.BPM = 70000
	_, err = AppendHeartRate(nil, m)
	wantFieldError(t, err, ErrOutOfRange, "heart_rate", -1)
	m.BPM = -1
	_, err = AppendHeartRate(nil, m)
	wantFieldError(t, err, ErrOutOfRange, "heart_rate", -1)
	m.BPM, m.Contact = 60, 4
	_, err = AppendHeartRate(nil, m)
	wantFieldError(t, err, ErrOutOfRange, "sensor_contact", -1)
	m.Contact, m.RRIntervals = 0, make([]uint16, MaxRRIntervals+1)
	_, err = AppendHeartRate(nil, m)
	wantFieldError(t, err, ErrOutOfRange, "rr_interval", -1)
}

func TestAppendHeartRateWidensAbove255(t *testing.T) {
	var m HeartRateMeasurement
	m.BPM = 256.4
	enc, err := AppendHeartRate(nil, m)
	if err != nil || !bytes.Equal(enc, []byte{0x01, 0x00, 0x01}) {
		t.Fatalf("% X, %v", enc, err)
	}
}
