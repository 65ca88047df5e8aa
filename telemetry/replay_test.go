package telemetry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openiomt/sdk/iomt"
)

func devN(i int) iomt.DeviceID {
	var d iomt.DeviceID
	d[0], d[1], d[2] = byte(i>>16), byte(i>>8), byte(i)
	d[6], d[8] = 0x40, 0x80
	return d
}

func TestReplayWindowSlides(t *testing.T) {
	ctx := context.Background()
	w, err := NewMemoryReplayWindow(MemoryReplayConfig{Window: 100})
	if err != nil {
		t.Fatal(err)
	}
	if w.Window() != 128 {
		t.Fatalf("window %d, want 128 (rounded to 64)", w.Window())
	}
	for _, s := range []uint64{10, 12, 11, 200} {
		if err := w.Record(ctx, testDev, s); err != nil {
			t.Fatalf("seq %d: %v", s, err)
		}
	}
	for s, want := range map[uint64]error{
		200: ErrReplay, 72: ErrSeqTooOld, 12: ErrSeqTooOld,
		73: nil, 199: nil, 201: nil, 1 << 40: nil,
	} {
		if err := w.Check(ctx, testDev, s); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("Check %d: %v, want %v", s, err, want)
		}
	}
	// A jump larger than the window clears everything behind it.
	if err := w.Record(ctx, testDev, 10_000); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(ctx, testDev, 9_999); err != nil {
		t.Fatalf("in-window after jump: %v", err)
	}
	if err := w.Record(ctx, testDev, 9_872); !errors.Is(err, ErrSeqTooOld) {
		t.Fatalf("behind window: %v", err)
	}
	// Sequence numbers near the top of the range do not overflow.
	if err := w.Record(ctx, testDev2, 1<<64-1); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(ctx, testDev2, 1<<64-2); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(ctx, testDev2, 1<<64-1); !errors.Is(err, ErrReplay) {
		t.Fatal(err)
	}
	// Other devices are independent, and Forget starts afresh.
	if err := w.Record(ctx, devN(9), 200); err != nil {
		t.Fatal(err)
	}
	w.Forget(testDev)
	if err := w.Record(ctx, testDev, 1); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
}

// TestReplayWindowMemoryBounded floods the window with devices: memory
// stays bounded by MaxDevices and the least recently used device goes.
func TestReplayWindowMemoryBounded(t *testing.T) {
	ctx := context.Background()
	w, _ := NewMemoryReplayWindow(MemoryReplayConfig{MaxDevices: 100})
	last := uint64(5)
	if err := w.Record(ctx, testDev, last); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10_000; i++ {
		if err := w.Record(ctx, devN(i), 1); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 { // keep testDev recently used
			last = uint64(6 + i)
			if err := w.Record(ctx, testDev, last); err != nil {
				t.Fatal(err)
			}
		}
		if w.Len() > 100 {
			t.Fatalf("%d devices tracked, bound is 100", w.Len())
		}
	}
	if err := w.Check(ctx, testDev, last); !errors.Is(err, ErrReplay) {
		t.Fatalf("recently used device was evicted: %v", err)
	}
	if err := w.Check(ctx, devN(0), 1); err != nil {
		t.Fatalf("least recently used device still tracked: %v", err)
	}
}

func TestReplayConcurrentRecordExactlyOnce(t *testing.T) {
	w, _ := NewMemoryReplayWindow(MemoryReplayConfig{})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := uint64(1); s <= 200; s++ {
				if w.Record(context.Background(), testDev, s) == nil {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 200 {
		t.Fatalf("%d successful records of 200 numbers", ok.Load())
	}
}

func TestReplayConfigValidation(t *testing.T) {
	for _, c := range []MemoryReplayConfig{{Window: -1}, {Window: MaxReplayWindow + 1}, {MaxDevices: -1}} {
		if _, err := NewMemoryReplayWindow(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w, _ := NewMemoryReplayWindow(MemoryReplayConfig{})
	if err := w.Record(ctx, testDev, 1); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := w.Check(ctx, testDev, 1); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
