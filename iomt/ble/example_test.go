package ble_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/iomt/ble"
)

// A blood-pressure cuff notifies a Blood Pressure Measurement; the gateway
// decodes it, validates it and reads the status flags.
func ExampleDecodeBloodPressure() {
	value := []byte{0x1E, 0x78, 0x00, 0x50, 0x00, 0x5D, 0x00, 0xEA, 0x07, 0x01, 0x01,
		0x08, 0x1E, 0x00, 0x48, 0x00, 0x01, 0x00, 0x00}
	m, err := ble.DecodeBloodPressure(value)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v/%v (MAP %v) %v, pulse %v/min\n", m.Systolic, m.Diastolic, m.MeanArterial, m.Unit, m.Pulse)
	fmt.Println("measured", m.MeasuredAt.Format(time.DateTime), "user", m.UserID)
	fmt.Println("irregular pulse:", m.Status.Has(iomt.StatusIrregularPulse))
	// Output:
	// 120/80 (MAP 93) mm[Hg], pulse 72/min
	// measured 2026-01-01 08:30:00 user 1
	// irregular pulse: false
}

// Malformed input fails with a typed error naming the field and offset.
func ExampleDecodeBloodPressure_truncated() {
	_, err := ble.DecodeBloodPressure([]byte{0x1E, 0x78, 0x00, 0x50})
	var fe *ble.FieldError
	if errors.As(err, &fe) && errors.Is(err, ble.ErrTruncated) {
		fmt.Println(fe.Field, fe.Offset)
	}
	fmt.Println(err)
	// Output:
	// diastolic 3
	// ble: 0x2A35 diastolic at offset 3: truncated value
}

// Device firmware encodes its own measurement for notification.
func ExampleAppendBloodPressure() {
	m := ble.BloodPressureMeasurement{
		BloodPressure: iomt.BloodPressure{
			Systolic: 16.1, Diastolic: 10.7, Unit: iomt.KPa,
			Status: iomt.StatusBodyMovement,
		},
	}
	b, err := ble.AppendBloodPressure(nil, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% X\n", b)
	// Output:
	// 11 A1 F0 6B F0 FF 07 01 00
}

func ExampleNewSFloat() {
	for _, v := range []float64{120, 16.1, 30000} {
		s, _ := ble.NewSFloat(v)
		fmt.Printf("%v -> %#04x = %d×10^%d\n", v, uint16(s), s.Mantissa(), s.Exponent())
	}
	fmt.Println(ble.SFloat(0x07FF).Special(), ble.SFloat(0x0802).Float64())
	// Output:
	// 120 -> 0x0078 = 120×10^0
	// 16.1 -> 0xf0a1 = 161×10^-1
	// 30000 -> 0x212c = 300×10^2
	// NaN -Inf
}

func ExampleDecodeGlucose() {
	value := []byte{0x02, 0x05, 0x00, 0xEA, 0x07, 0x01, 0x01, 0x07, 0x00, 0x00, 0x5F, 0xB0, 0x11}
	m, err := ble.DecodeGlucose(value)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Sequence, m.Concentration, m.Unit, m.MeasuredAt.Format(time.DateTime))
	fmt.Printf("%.2f mmol/L\n", m.In(iomt.MmolPerL).Concentration)
	// Output:
	// 5 95 mg/dL 2026-01-01 07:00:00
	// 5.27 mmol/L
}

func ExampleDecodeHeartRate() {
	m, err := ble.DecodeHeartRate([]byte{0x16, 0x48, 0x00, 0x04})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.BPM, m.Contact == ble.ContactDetected, m.RRIntervals)
	// Output:
	// 72 true [1024]
}
