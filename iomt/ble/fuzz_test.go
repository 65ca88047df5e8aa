package ble

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

// Round-trip fuzz targets: a decoder never panics and fails only with a
// *FieldError; whatever it accepts re-encodes, decodes to the same
// measurement, and re-encodes to the same bytes (the encoder's output is a
// fixed point even when the input used a longer SFLOAT spelling).

func checkFieldError(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
}

func FuzzDecodeBloodPressure(f *testing.F) {
	f.Add(mustHex(f, knownBP))
	f.Add([]byte{0x01, 0xA0, 0xF0, 0x6B, 0xF0, 0xFF, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeBloodPressure(b)
		if err != nil {
			checkFieldError(t, err)
			return
		}
		enc, err := AppendBloodPressure(nil, m)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		m2, err := DecodeBloodPressure(enc)
		if err != nil {
			t.Fatalf("encoding does not decode: %v", err)
		}
		if m2 != m {
			t.Fatalf("round trip changed the measurement:\n%+v\n%+v", m, m2)
		}
		enc2, err := AppendBloodPressure(nil, m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not a fixed point: % X vs % X (%v)", enc, enc2, err)
		}
	})
}

func FuzzDecodeHeartRate(f *testing.F) {
	f.Add([]byte{0x00, 72})
	f.Add([]byte{0x18, 60, 0x10, 0x00, 0x00, 0x04, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeHeartRate(b)
		if err != nil {
			checkFieldError(t, err)
			return
		}
		enc, err := AppendHeartRate(nil, m)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		// Heart rate has no alternative spellings: bytes round-trip exactly.
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded % X, input % X", enc, b)
		}
		m2, err := DecodeHeartRate(enc)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %+v vs %+v (%v)", m, m2, err)
		}
	})
}

func FuzzDecodeGlucose(f *testing.F) {
	f.Add(mustHex(f, glucoseVector))
	f.Add(mustHex(f, "06 01 00 EA 07 01 01 07 00 00 35 C0 11"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeGlucose(b)
		if err != nil {
			checkFieldError(t, err)
			return
		}
		enc, err := AppendGlucose(nil, m)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		m2, err := DecodeGlucose(enc)
		if err != nil {
			t.Fatalf("encoding does not decode: %v", err)
		}
		if m2 != m {
			t.Fatalf("round trip changed the measurement:\n%+v\n%+v", m, m2)
		}
		enc2, err := AppendGlucose(nil, m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not a fixed point: % X vs % X (%v)", enc, enc2, err)
		}
	})
}

func FuzzFloat(f *testing.F) {
	f.Add(uint32(0x007FFFFF))
	f.Add(uint32(0xFF0002D5))
	f.Add(uint32(0x80000001))
	f.Fuzz(func(t *testing.T, raw uint32) {
		x := Float(raw)
		v := x.Float64()
		enc, err := NewFloat(v)
		if err != nil {
			t.Fatalf("NewFloat(decode(%#08x)): %v", raw, err)
		}
		switch x.Special() {
		case NotSpecial:
			if enc.Float64() != v || enc.Special() != NotSpecial {
				t.Fatalf("%#08x = %v re-encodes as %#08x = %v", raw, v, uint32(enc), enc.Float64())
			}
		case PosInfinity, NegInfinity:
			if enc != x {
				t.Fatalf("infinity %#08x re-encodes as %#08x", raw, uint32(enc))
			}
		default:
			if enc != FloatNaN || !math.IsNaN(v) {
				t.Fatalf("%#08x re-encodes as %#08x", raw, uint32(enc))
			}
		}
	})
}

func FuzzNewSFloat(f *testing.F) {
	f.Add(120.0)
	f.Add(16.1)
	f.Add(1.0 / 3)
	f.Add(-2046.0)
	f.Fuzz(func(t *testing.T, v float64) {
		s, err := NewSFloat(v)
		if err != nil {
			if !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("NewSFloat(%v): %v", v, err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if s.Special() != NotSpecial {
			t.Fatalf("NewSFloat(%v) gave special %v", v, s.Special())
		}
		// The encoding is a fixed point of decode→encode.
		again, err := NewSFloat(s.Float64())
		if err != nil || again != s {
			t.Fatalf("NewSFloat(%v) = %#04x, re-encodes as %#04x (%v)", v, uint16(s), uint16(again), err)
		}
	})
}

func FuzzDecodeDateTime(f *testing.F) {
	f.Add(mustHex(f, "EA 07 01 01 08 1E 00"))
	f.Add(mustHex(f, "E8 07 02 1D 17 3B 3B"))
	f.Add(make([]byte, 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, err := DecodeDateTime(b)
		if err != nil {
			checkFieldError(t, err)
			return
		}
		enc, err := AppendDateTime(nil, tm)
		if err != nil {
			t.Fatalf("decoded time does not encode: %v", err)
		}
		// Byte-exact unless the date was unknown (its clock fields are dropped).
		if !tm.IsZero() && !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded % X, input % X", enc, b)
		}
		back, err := DecodeDateTime(enc)
		if err != nil || !back.Equal(tm) {
			t.Fatalf("round trip %v -> %v (%v)", tm, back, err)
		}
	})
}
