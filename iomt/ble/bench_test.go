package ble

import (
	"encoding/binary"
	"testing"
)

var sinkBP BloodPressureMeasurement

// BenchmarkDecodeBloodPressure decodes the full 19-byte reference record
// (every optional field present). It must report 0 allocs/op: the result is
// returned by value.
func BenchmarkDecodeBloodPressure(b *testing.B) {
	in := mustHex(b, knownBP)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		m, err := DecodeBloodPressure(in)
		if err != nil {
			b.Fatal(err)
		}
		sinkBP = m
	}
}

// rawBP is the baseline's unchecked view of the record.
type rawBP struct {
	flags                 byte
	sys, dia, mean, pulse uint16
	date                  [7]byte
	user                  byte
	status                uint16
}

var sinkRaw rawBP

// BenchmarkDecodeBloodPressureBaseline only copies the record's fields out
// of the buffer, without flags, checks or number conversion: the floor that
// BenchmarkDecodeBloodPressure is compared against.
func BenchmarkDecodeBloodPressureBaseline(b *testing.B) {
	in := mustHex(b, knownBP)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	le := binary.LittleEndian
	for b.Loop() {
		var r rawBP
		r.flags = in[0]
		r.sys, r.dia, r.mean = le.Uint16(in[1:]), le.Uint16(in[3:]), le.Uint16(in[5:])
		copy(r.date[:], in[7:14])
		r.pulse, r.user, r.status = le.Uint16(in[14:]), in[16], le.Uint16(in[17:])
		sinkRaw = r
	}
}

var sinkBytes []byte

// BenchmarkAppendBloodPressure encodes the reference record into a reused
// buffer; it must report 0 allocs/op.
func BenchmarkAppendBloodPressure(b *testing.B) {
	m, err := DecodeBloodPressure(mustHex(b, knownBP))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		out, err := AppendBloodPressure(buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = out
	}
}

// TestDecodeBloodPressureAllocatesNothing pins the allocation contract that
// the benchmark reports, so a regression fails the ordinary test run.
func TestDecodeBloodPressureAllocatesNothing(t *testing.T) {
	in := mustHex(t, knownBP)
	buf := make([]byte, 0, 32)
	var m BloodPressureMeasurement
	if n := testing.AllocsPerRun(100, func() { m, _ = DecodeBloodPressure(in) }); n != 0 {
		t.Errorf("DecodeBloodPressure: %v allocs/op, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendBloodPressure(buf[:0], m) }); n != 0 {
		t.Errorf("AppendBloodPressure: %v allocs/op, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeGlucose(mustHexNoAlloc) }); n != 0 {
		t.Errorf("DecodeGlucose: %v allocs/op, want 0", n)
	}
}

var mustHexNoAlloc = []byte{0x1B, 0x05, 0x00, 0xEA, 0x07, 0x01, 0x01, 0x07, 0x00, 0x00, 0x0F, 0x00, 0x5F, 0xB0, 0x11, 0x01, 0x00}
