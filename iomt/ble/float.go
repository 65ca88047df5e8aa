package ble

import "math"

// Special classifies the IEEE 11073-20601 special values of [SFloat] and
// [Float].
type Special uint8

// Special values. NotSpecial marks an ordinary number.
const (
	NotSpecial      Special = iota // an ordinary number
	NaN                            // not a number: no value available
	NRes                           // not at this resolution
	PosInfinity                    // +INFINITY: above the measurable range
	NegInfinity                    // −INFINITY: below the measurable range
	ReservedSpecial                // reserved for future use
)

// String returns the name used by IEEE 11073-20601.
func (s Special) String() string {
	switch s {
	case NotSpecial:
		return "number"
	case NaN:
		return "NaN"
	case NRes:
		return "NRes"
	case PosInfinity:
		return "+INFINITY"
	case NegInfinity:
		return "-INFINITY"
	case ReservedSpecial:
		return "reserved"
	}
	return "Special(invalid)"
}

// SFloat is an IEEE 11073-20601 16-bit SFLOAT: a signed 4-bit base-10
// exponent in the high nibble and a signed 12-bit mantissa, value =
// mantissa × 10^exponent. It is sent little-endian. The special values have
// exponent 0 and the mantissas 0x7FE–0x802; the same mantissas with another
// exponent are ordinary numbers.
type SFloat uint16

// The SFLOAT special values.
const (
	SFloatNaN      SFloat = 0x07FF
	SFloatNRes     SFloat = 0x0800
	SFloatPosInf   SFloat = 0x07FE
	SFloatNegInf   SFloat = 0x0802
	SFloatReserved SFloat = 0x0801
)

// Float is an IEEE 11073-20601 32-bit FLOAT: a signed 8-bit base-10 exponent
// in the high byte and a signed 24-bit mantissa, value = mantissa ×
// 10^exponent. It is sent little-endian. The special values have exponent 0
// and the mantissas 0x7FFFFE–0x800002.
type Float uint32

// The FLOAT special values.
const (
	FloatNaN      Float = 0x007FFFFF
	FloatNRes     Float = 0x00800000
	FloatPosInf   Float = 0x007FFFFE
	FloatNegInf   Float = 0x00800002
	FloatReserved Float = 0x00800001
)

// format describes one of the two number formats.
type format struct {
	mBits, eBits int
}

var (
	sfloatFormat = format{12, 4}
	floatFormat  = format{24, 8}
)

func (f format) minExp() int { return -(1 << (f.eBits - 1)) }
func (f format) maxExp() int { return 1<<(f.eBits-1) - 1 }
func (f format) maxMant() int64 {
	return 1<<(f.mBits-1) - 1
}

// split returns the signed mantissa and exponent of raw.
func (f format) split(raw uint32) (m int64, e int) {
	m = int64(raw & (1<<f.mBits - 1))
	if m >= 1<<(f.mBits-1) {
		m -= 1 << f.mBits
	}
	e = int(raw >> f.mBits & (1<<f.eBits - 1))
	if e >= 1<<(f.eBits-1) {
		e -= 1 << f.eBits
	}
	return m, e
}

func (f format) join(m int64, e int) uint32 {
	return uint32(e)&(1<<f.eBits-1)<<f.mBits | uint32(m)&(1<<f.mBits-1)
}

// special classifies raw: only exponent 0 with the mantissas 2^(n-1)-2 …
// -(2^(n-1)-2) is special.
func (f format) special(raw uint32) Special {
	m, e := f.split(raw)
	if e != 0 {
		return NotSpecial
	}
	top := f.maxMant() // 0x7FF or 0x7FFFFF
	switch m {
	case top:
		return NaN
	case -top - 1:
		return NRes
	case top - 1:
		return PosInfinity
	case -top + 1:
		return NegInfinity
	case -top:
		return ReservedSpecial
	}
	return NotSpecial
}

// isSpecialMantissa reports whether (m, e) would collide with a special value.
func (f format) isSpecialMantissa(m int64, e int) bool {
	top := f.maxMant()
	return e == 0 && (m >= top-1 || m <= -top+1)
}

// pow10 holds the exactly representable powers of ten.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

func tenTo(k int) float64 {
	if k >= 0 && k < len(pow10) {
		return pow10[k]
	}
	return math.Pow10(k)
}

// scale returns m × 10^k, dividing for negative k so that decimal fractions
// such as 16.1 are the nearest float64.
func scale(m int64, k int) float64 {
	if k >= 0 {
		return float64(m) * tenTo(k)
	}
	return float64(m) / tenTo(-k)
}

// value returns raw × 10^shift, NaN for NaN, NRes and reserved, and ±Inf.
func (f format) value(raw uint32, shift int) float64 {
	switch f.special(raw) {
	case NaN, NRes, ReservedSpecial:
		return math.NaN()
	case PosInfinity:
		return math.Inf(1)
	case NegInfinity:
		return math.Inf(-1)
	}
	m, e := f.split(raw)
	return scale(m, e+shift)
}

// encode returns the encoding of v / 10^shift. NaN and ±Inf map to the NaN
// and ±INFINITY special values. Among exact encodings it prefers the
// effective exponent 0, then finer resolutions, then coarser ones; without
// an exact encoding it rounds at the finest resolution that fits. It fails
// with ErrOutOfRange when |v| is too large.
func (f format) encode(v float64, shift int) (uint32, error) {
	switch {
	case math.IsNaN(v):
		return f.join(f.maxMant(), 0), nil
	case math.IsInf(v, 1):
		return f.join(f.maxMant()-1, 0), nil
	case math.IsInf(v, -1):
		return f.join(-f.maxMant()+1, 0), nil
	case v == 0:
		return 0, nil
	}
	if r, ok := f.exact(v, shift); ok {
		return r, nil
	}
	// No exact encoding: round at the finest resolution that fits, then
	// respell the rounded number in its canonical form.
	for k := f.minExp() + shift; k <= f.maxExp()+shift; k++ {
		if m, e, ok := f.fits(v, k, shift); ok {
			if r, ok := f.exact(scale(m, k), shift); ok {
				return r, nil
			}
			return f.join(m, e), nil
		}
	}
	return 0, ErrOutOfRange
}

// NewSFloat returns the SFLOAT encoding of v: the shortest exact one when v
// has one (120 encodes as 120×10⁰, 16.1 as 161×10⁻¹), otherwise v rounded at
// the finest resolution that fits. NaN and ±Inf encode as the NaN and
// ±INFINITY special values. Magnitudes above 2047×10⁷ fail with
// [ErrOutOfRange].
func NewSFloat(v float64) (SFloat, error) {
	r, err := sfloatFormat.encode(v, 0)
	return SFloat(r), err
}

// SFloatFromParts returns mantissa × 10^exponent as an SFLOAT, or
// [ErrOutOfRange] when the mantissa is outside −2048…2047 or the exponent
// outside −8…7. Parts that spell a special value give that special value.
func SFloatFromParts(mantissa, exponent int) (SFloat, error) {
	f := sfloatFormat
	if int64(mantissa) > f.maxMant() || int64(mantissa) < -f.maxMant()-1 || exponent < f.minExp() || exponent > f.maxExp() {
		return 0, ErrOutOfRange
	}
	return SFloat(f.join(int64(mantissa), exponent)), nil
}

// Float64 returns the value: NaN for the NaN, NRes and reserved special
// values, ±Inf for ±INFINITY.
func (s SFloat) Float64() float64 { return sfloatFormat.value(uint32(s), 0) }

// Special reports which special value s is, or NotSpecial.
func (s SFloat) Special() Special { return sfloatFormat.special(uint32(s)) }

// Mantissa returns the signed 12-bit mantissa.
func (s SFloat) Mantissa() int { m, _ := sfloatFormat.split(uint32(s)); return int(m) }

// Exponent returns the signed 4-bit exponent.
func (s SFloat) Exponent() int { _, e := sfloatFormat.split(uint32(s)); return e }

// NewFloat returns the 32-bit FLOAT encoding of v with the rules of
// [NewSFloat]. Magnitudes above 8388607×10¹²⁷ fail with [ErrOutOfRange].
func NewFloat(v float64) (Float, error) {
	r, err := floatFormat.encode(v, 0)
	return Float(r), err
}

// FloatFromParts returns mantissa × 10^exponent as a FLOAT, or
// [ErrOutOfRange] when the mantissa is outside −2²³…2²³−1 or the exponent
// outside −128…127.
func FloatFromParts(mantissa, exponent int) (Float, error) {
	f := floatFormat
	if int64(mantissa) > f.maxMant() || int64(mantissa) < -f.maxMant()-1 || exponent < f.minExp() || exponent > f.maxExp() {
		return 0, ErrOutOfRange
	}
	return Float(f.join(int64(mantissa), exponent)), nil
}

// Float64 returns the value: NaN for the NaN, NRes and reserved special
// values, ±Inf for ±INFINITY.
func (x Float) Float64() float64 { return floatFormat.value(uint32(x), 0) }

// Special reports which special value x is, or NotSpecial.
func (x Float) Special() Special { return floatFormat.special(uint32(x)) }

// Mantissa returns the signed 24-bit mantissa.
func (x Float) Mantissa() int { m, _ := floatFormat.split(uint32(x)); return int(m) }

// Exponent returns the signed 8-bit exponent.
func (x Float) Exponent() int { _, e := floatFormat.split(uint32(x)); return e }

// fits returns the mantissa and exponent of v rounded at effective exponent
// k (= exponent + shift), if they are in range and not a special value.
func (f format) fits(v float64, k, shift int) (int64, int, bool) {
	e := k - shift
	if e < f.minExp() || e > f.maxExp() {
		return 0, 0, false
	}
	var s float64
	if k >= 0 {
		s = math.Round(v / tenTo(k))
	} else {
		s = math.Round(v * tenTo(-k))
	}
	if math.Abs(s) > float64(f.maxMant()+1) {
		return 0, 0, false
	}
	m := int64(s)
	if m > f.maxMant() || m < -f.maxMant()-1 || f.isSpecialMantissa(m, e) {
		return 0, 0, false
	}
	return m, e, true
}

// exact returns the canonical exact encoding of v, if there is one: the
// effective exponent 0 first, then finer resolutions, then coarser ones.
func (f format) exact(v float64, shift int) (uint32, bool) {
	lo, hi := f.minExp()+shift, f.maxExp()+shift
	try := func(k int) (uint32, bool) {
		if m, e, ok := f.fits(v, k, shift); ok && scale(m, k) == v {
			return f.join(m, e), true
		}
		return 0, false
	}
	if lo <= 0 && 0 <= hi {
		if r, ok := try(0); ok {
			return r, true
		}
	}
	for k := min(-1, hi); k >= lo; k-- {
		if r, ok := try(k); ok {
			return r, true
		}
	}
	for k := max(1, lo); k <= hi; k++ {
		if r, ok := try(k); ok {
			return r, true
		}
	}
	return 0, false
}
