package ble

import (
	"errors"
	"math"
	"testing"
)

func TestSFloatSpecialValues(t *testing.T) {
	cases := []struct {
		raw  SFloat
		want Special
	}{
		{0x07FF, NaN},
		{0x0800, NRes},
		{0x07FE, PosInfinity},
		{0x0802, NegInfinity},
		{0x0801, ReservedSpecial},
		{0x17FF, NotSpecial}, // same mantissa, exponent 1: 20470
		{0x0000, NotSpecial},
		{0x07FD, NotSpecial}, // 2045
	}
	for _, c := range cases {
		if got := c.raw.Special(); got != c.want {
			t.Errorf("SFloat(%#04x).Special() = %v, want %v", uint16(c.raw), got, c.want)
		}
	}
	if v := SFloatNaN.Float64(); !math.IsNaN(v) {
		t.Errorf("NaN decodes to %v", v)
	}
	if v := SFloatNRes.Float64(); !math.IsNaN(v) {
		t.Errorf("NRes decodes to %v", v)
	}
	if v := SFloatReserved.Float64(); !math.IsNaN(v) {
		t.Errorf("reserved decodes to %v", v)
	}
	if v := SFloatPosInf.Float64(); !math.IsInf(v, 1) {
		t.Errorf("+INF decodes to %v", v)
	}
	if v := SFloatNegInf.Float64(); !math.IsInf(v, -1) {
		t.Errorf("-INF decodes to %v", v)
	}
	if v := SFloat(0x17FF).Float64(); v != 20470 {
		t.Errorf("0x17FF decodes to %v, want 20470", v)
	}
}

func TestFloatSpecialValues(t *testing.T) {
	cases := []struct {
		raw  Float
		want Special
	}{
		{0x007FFFFF, NaN},
		{0x00800000, NRes},
		{0x007FFFFE, PosInfinity},
		{0x00800002, NegInfinity},
		{0x00800001, ReservedSpecial},
		{0x017FFFFF, NotSpecial},
		{0x007FFFFD, NotSpecial},
	}
	for _, c := range cases {
		if got := c.raw.Special(); got != c.want {
			t.Errorf("Float(%#08x).Special() = %v, want %v", uint32(c.raw), got, c.want)
		}
	}
	if !math.IsNaN(FloatNaN.Float64()) || !math.IsNaN(FloatNRes.Float64()) || !math.IsNaN(FloatReserved.Float64()) {
		t.Error("NaN, NRes or reserved FLOAT is not NaN")
	}
	if !math.IsInf(FloatPosInf.Float64(), 1) || !math.IsInf(FloatNegInf.Float64(), -1) {
		t.Error("FLOAT infinities wrong")
	}
}

func TestSFloatDecode(t *testing.T) {
	cases := []struct {
		raw  uint16
		want float64
		m, e int
	}{
		{0x0078, 120, 120, 0},
		{0xF0A1, 16.1, 161, -1},   // exponent -1
		{0x0FFF, -1, -1, 0},       // mantissa -1
		{0x8001, 1e-8, 1, -8},     // smallest exponent
		{0x77FD, 2045e7, 2045, 7}, // largest ordinary
		{0x0801 | 0x1000, -20470, -2047, 1},
		{0xE3E8, 10, 1000, -2},
	}
	for _, c := range cases {
		s := SFloat(c.raw)
		if got := s.Float64(); got != c.want {
			t.Errorf("SFloat(%#04x) = %v, want %v", c.raw, got, c.want)
		}
		if s.Mantissa() != c.m || s.Exponent() != c.e {
			t.Errorf("SFloat(%#04x) parts = %d,%d, want %d,%d", c.raw, s.Mantissa(), s.Exponent(), c.m, c.e)
		}
	}
}

func TestNewSFloatCanonical(t *testing.T) {
	cases := []struct {
		v    float64
		want uint16
	}{
		{0, 0x0000},
		{120, 0x0078},
		{-1, 0x0FFF},
		{16.1, 0xF0A1},
		{0.5, 0xF005},
		{30000, 0x212C},      // 300 × 10²
		{2046, 0x10CD},       // 2046 is special at exponent 0: rounds to 205 × 10¹
		{math.NaN(), 0x07FF}, // NaN special
		{math.Inf(1), 0x07FE},
		{math.Inf(-1), 0x0802},
	}
	for _, c := range cases {
		got, err := NewSFloat(c.v)
		if err != nil {
			t.Errorf("NewSFloat(%v): %v", c.v, err)
			continue
		}
		if uint16(got) != c.want {
			t.Errorf("NewSFloat(%v) = %#04x, want %#04x", c.v, uint16(got), c.want)
		}
	}
	// 1/3 has no exact encoding: rounded at the finest resolution that fits,
	// 333 × 10⁻³ (3333 does not fit in 12 bits).
	got, err := NewSFloat(1.0 / 3)
	if err != nil || got.Mantissa() != 333 || got.Exponent() != -3 {
		t.Errorf("NewSFloat(1/3) = %d×10^%d, %v; want 333×10^-3", got.Mantissa(), got.Exponent(), err)
	}
}

func TestNewSFloatOutOfRange(t *testing.T) {
	for _, v := range []float64{2047e7 + 1e7, -3e10, math.MaxFloat64} {
		if _, err := NewSFloat(v); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("NewSFloat(%v) err = %v, want ErrOutOfRange", v, err)
		}
	}
	if _, err := NewFloat(math.MaxFloat64); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("NewFloat(max) err = %v, want ErrOutOfRange", err)
	}
}

func TestSFloatFromParts(t *testing.T) {
	s, err := SFloatFromParts(-5, -2)
	if err != nil || s.Float64() != -0.05 {
		t.Fatalf("SFloatFromParts(-5,-2) = %v, %v", s.Float64(), err)
	}
	for _, p := range [][2]int{{2048, 0}, {-2049, 0}, {1, 8}, {1, -9}} {
		if _, err := SFloatFromParts(p[0], p[1]); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("SFloatFromParts(%v) err = %v", p, err)
		}
	}
	f, err := FloatFromParts(-8388608, -128)
	if err != nil || f.Mantissa() != -8388608 || f.Exponent() != -128 {
		t.Fatalf("FloatFromParts extremes = %d,%d %v", f.Mantissa(), f.Exponent(), err)
	}
	for _, p := range [][2]int{{1 << 23, 0}, {1, 128}, {1, -129}} {
		if _, err := FloatFromParts(p[0], p[1]); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("FloatFromParts(%v) err = %v", p, err)
		}
	}
}

func TestNewFloat(t *testing.T) {
	cases := []struct {
		v    float64
		want uint32
	}{
		{72.5, 0xFF0002D5},
		{8388605, 0x007FFFFD},
		{8388606, 0x000CCCCD | 1<<24}, // special mantissa at exponent 0: 838861×10¹
		{math.NaN(), 0x007FFFFF},
		{math.Inf(-1), 0x00800002},
	}
	for _, c := range cases {
		got, err := NewFloat(c.v)
		if err != nil || uint32(got) != c.want {
			t.Errorf("NewFloat(%v) = %#08x, %v; want %#08x", c.v, uint32(got), err, c.want)
		}
	}
}

// TestSFloatExhaustiveRoundTrip checks every one of the 65536 SFLOAT values:
// re-encoding the decoded number gives back the same number (not necessarily
// the same bits: 1200×10⁻¹ re-encodes as 120×10⁰).
func TestSFloatExhaustiveRoundTrip(t *testing.T) {
	for raw := 0; raw <= 0xFFFF; raw++ {
		s := SFloat(raw)
		v := s.Float64()
		enc, err := NewSFloat(v)
		if err != nil {
			t.Fatalf("NewSFloat(decode(%#04x)): %v", raw, err)
		}
		switch sp := s.Special(); sp {
		case NotSpecial:
			if enc.Float64() != v {
				t.Fatalf("%#04x: %v re-encodes as %#04x = %v", raw, v, uint16(enc), enc.Float64())
			}
			if enc.Special() != NotSpecial {
				t.Fatalf("%#04x re-encodes as a special value", raw)
			}
		case PosInfinity, NegInfinity:
			if enc != s {
				t.Fatalf("%v re-encodes as %#04x", sp, uint16(enc))
			}
		default:
			if enc != SFloatNaN {
				t.Fatalf("%v re-encodes as %#04x, want NaN", sp, uint16(enc))
			}
		}
	}
}

// TestReaderSFloatMatchesSFloat checks the decoders' inlined SFLOAT path
// against SFloat for all 65536 values, optional and required.
func TestReaderSFloatMatchesSFloat(t *testing.T) {
	for raw := 0; raw <= 0xFFFF; raw++ {
		s := SFloat(raw)
		for _, optional := range []bool{false, true} {
			r := reader{c: BloodPressureMeasurementCharacteristic, b: []byte{byte(raw), byte(raw >> 8)}}
			v, err := r.sfloat("x", optional)
			switch {
			case s.Special() == NotSpecial:
				if err != nil || v != s.Float64() {
					t.Fatalf("%#04x: %v, %v; want %v", raw, v, err, s.Float64())
				}
			case s == SFloatNaN && optional:
				if err != nil || v != 0 {
					t.Fatalf("optional NaN: %v, %v", v, err)
				}
			default:
				if !errors.Is(err, ErrSpecialValue) {
					t.Fatalf("%#04x (%v, optional %v): err = %v", raw, s.Special(), optional, err)
				}
			}
		}
	}
}
