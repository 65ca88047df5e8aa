// Package telemetrytest holds conformance suites for implementations of
// the telemetry package's interfaces: [ReplayWindow] for a
// [telemetry.ReplayWindow] (for example one shared by all ingest workers
// through a database), [KeyResolver] for a [telemetry.KeyResolver] (the
// device registry) and [SequenceStore] for a [telemetry.SequenceStore].
// Every implementation, including the package's own, runs the same suite,
// in the manner of testing/slogtest.
//
// The suites take a *testing.T and report failures through it. They use
// only the implementation under test, fixed identifiers and no wall clock,
// so they are safe to run in parallel with other tests.
package telemetrytest

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
)

// device returns a distinct, valid version 4 device ID for i.
func device(i int) iomt.DeviceID {
	var d iomt.DeviceID
	d[0], d[1], d[2], d[3] = 0x7e, byte(i>>16), byte(i>>8), byte(i)
	d[6], d[8] = 0x40, 0x80
	return d
}

// ReplayWindow runs the conformance suite for a ReplayWindow. newWindow
// returns a fresh, empty window; window is how many sequence numbers
// behind the highest recorded one it accepts (for a
// telemetry.MemoryReplayWindow, its Window()). The suite needs window ≥ 64.
func ReplayWindow(t *testing.T, newWindow func(t *testing.T) telemetry.ReplayWindow, window uint64) {
	t.Helper()
	if window < 64 {
		t.Fatalf("telemetrytest: window %d below 64", window)
	}
	ctx := context.Background()
	run := func(name string, f func(t *testing.T, w telemetry.ReplayWindow)) {
		t.Run(name, func(t *testing.T) { f(t, newWindow(t)) })
	}
	mustRecord := func(t *testing.T, w telemetry.ReplayWindow, dev iomt.DeviceID, seq uint64) {
		t.Helper()
		if err := w.Record(ctx, dev, seq); err != nil {
			t.Fatalf("Record(%d): %v", seq, err)
		}
	}
	expect := func(t *testing.T, got error, want error, what string) {
		t.Helper()
		if want == nil && got != nil || want != nil && !errors.Is(got, want) {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
	run("FirstSeen", func(t *testing.T, w telemetry.ReplayWindow) {
		expect(t, w.Check(ctx, device(1), 42), nil, "Check on an empty window")
		mustRecord(t, w, device(1), 42)
	})
	run("Duplicate", func(t *testing.T, w telemetry.ReplayWindow) {
		mustRecord(t, w, device(1), 7)
		expect(t, w.Check(ctx, device(1), 7), telemetry.ErrReplay, "Check of a recorded number")
		expect(t, w.Record(ctx, device(1), 7), telemetry.ErrReplay, "Record of a recorded number")
	})
	run("CheckRecordsNothing", func(t *testing.T, w telemetry.ReplayWindow) {
		for i := 0; i < 3; i++ {
			expect(t, w.Check(ctx, device(1), 9), nil, "repeated Check")
		}
		mustRecord(t, w, device(1), 9)
	})
	run("OutOfOrderWithinWindow", func(t *testing.T, w telemetry.ReplayWindow) {
		top := 10 * window
		mustRecord(t, w, device(1), top)
		for _, s := range []uint64{top - 1, top - window + 1, top - window/2} {
			mustRecord(t, w, device(1), s)
			expect(t, w.Record(ctx, device(1), s), telemetry.ErrReplay, fmt.Sprintf("second Record(%d)", s))
		}
	})
	run("BehindWindow", func(t *testing.T, w telemetry.ReplayWindow) {
		top := 10 * window
		mustRecord(t, w, device(1), top)
		for _, s := range []uint64{top - window, top - window - 1, 1, 0} {
			expect(t, w.Check(ctx, device(1), s), telemetry.ErrSeqTooOld, fmt.Sprintf("Check(%d)", s))
			expect(t, w.Record(ctx, device(1), s), telemetry.ErrSeqTooOld, fmt.Sprintf("Record(%d)", s))
		}
	})
	run("JumpAhead", func(t *testing.T, w telemetry.ReplayWindow) {
		mustRecord(t, w, device(1), 5)
		mustRecord(t, w, device(1), 5+1000*window)
		mustRecord(t, w, device(1), 4+1000*window)
		expect(t, w.Record(ctx, device(1), 5), telemetry.ErrSeqTooOld, "old number after a jump")
	})
	run("ExtremeNumbers", func(t *testing.T, w telemetry.ReplayWindow) {
		mustRecord(t, w, device(1), 0)
		mustRecord(t, w, device(1), 1<<64-1)
		mustRecord(t, w, device(1), 1<<64-2)
		expect(t, w.Record(ctx, device(1), 1<<64-1), telemetry.ErrReplay, "top number twice")
	})
	run("DevicesIndependent", func(t *testing.T, w telemetry.ReplayWindow) {
		mustRecord(t, w, device(1), 100)
		mustRecord(t, w, device(2), 100)
		mustRecord(t, w, device(3), 1)
		expect(t, w.Record(ctx, device(2), 100), telemetry.ErrReplay, "device 2 replay")
	})
	run("ConcurrentRecordExactlyOnce", func(t *testing.T, w telemetry.ReplayWindow) {
		var ok atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := uint64(1); s <= 50; s++ {
					for d := 1; d <= 2; d++ {
						if w.Record(ctx, device(d), s) == nil {
							ok.Add(1)
						}
					}
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 100 {
			t.Fatalf("%d successful Records of 100 distinct (device, seq) pairs by 8 goroutines", ok.Load())
		}
	})
	run("CancelledContext", func(t *testing.T, w telemetry.ReplayWindow) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if w.Record(cctx, device(1), 1) == nil {
			t.Fatal("Record with a cancelled context succeeded")
		}
		mustRecord(t, w, device(1), 1) // and recorded nothing
	})
}

// KeyResolver runs the conformance suite for a KeyResolver. known maps
// devices the resolver holds to the DeviceKey it must return for each
// (Key compared with its Equal method, Status exactly; Patient when not
// zero); unknown is a device it does not hold.
func KeyResolver(t *testing.T, r telemetry.KeyResolver, known map[iomt.DeviceID]telemetry.DeviceKey, unknown iomt.DeviceID) {
	t.Helper()
	ctx := context.Background()
	t.Run("Known", func(t *testing.T) {
		for dev, want := range known {
			got, err := r.ResolveDeviceKey(ctx, dev)
			if want.Status == telemetry.KeyRevoked && errors.Is(err, telemetry.ErrRevokedDevice) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", dev, err)
			}
			eq, ok := got.Key.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !eq.Equal(want.Key) {
				t.Errorf("%s: key differs", dev)
			}
			if got.Status != want.Status {
				t.Errorf("%s: status %v, want %v", dev, got.Status, want.Status)
			}
			if !want.Patient.IsZero() && got.Patient != want.Patient {
				t.Errorf("%s: patient differs", dev)
			}
			if _, err := telemetry.AlgorithmOf(got.Key); err != nil {
				t.Errorf("%s: %v", dev, err)
			}
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		if _, err := r.ResolveDeviceKey(ctx, unknown); !errors.Is(err, telemetry.ErrUnknownDevice) {
			t.Fatalf("unknown device: %v, want ErrUnknownDevice", err)
		}
		if _, err := r.ResolveDeviceKey(ctx, iomt.DeviceID{}); !errors.Is(err, telemetry.ErrUnknownDevice) {
			t.Fatalf("zero device: %v, want ErrUnknownDevice", err)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for dev := range known {
			if _, err := r.ResolveDeviceKey(cctx, dev); err == nil {
				t.Fatal("ResolveDeviceKey with a cancelled context succeeded")
			}
			break
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for dev := range known {
					if _, err := r.ResolveDeviceKey(ctx, dev); err != nil && !errors.Is(err, telemetry.ErrRevokedDevice) {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

// SequenceStore runs the conformance suite for a SequenceStore. open
// returns a fresh store; reopen, if not nil, returns a store over the same
// state as the one passed (which it may close first), as after a reboot.
func SequenceStore(t *testing.T, open func(t *testing.T) telemetry.SequenceStore, reopen func(t *testing.T, old telemetry.SequenceStore) telemetry.SequenceStore) {
	t.Helper()
	ctx := context.Background()
	next := func(t *testing.T, s telemetry.SequenceStore) uint64 {
		t.Helper()
		n, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("StrictlyIncreasing", func(t *testing.T) {
		s := open(t)
		last := next(t, s)
		for i := 0; i < 3000; i++ {
			n := next(t, s)
			if n <= last {
				t.Fatalf("%d after %d", n, last)
			}
			last = n
		}
	})
	t.Run("ConcurrentUnique", func(t *testing.T) {
		s := open(t)
		var mu sync.Mutex
		seen := map[uint64]bool{}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					n, err := s.Next(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					dup := seen[n]
					seen[n] = true
					mu.Unlock()
					if dup {
						t.Errorf("%d handed out twice", n)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Next(cctx); err == nil {
			t.Fatal("Next with a cancelled context succeeded")
		}
	})
	if reopen == nil {
		return
	}
	t.Run("NoReuseAfterReopen", func(t *testing.T) {
		s := open(t)
		var last uint64
		for i := 0; i < 37; i++ {
			last = next(t, s)
		}
		s = reopen(t, s)
		if n := next(t, s); n <= last {
			t.Fatalf("after reopen got %d, last handed out %d", n, last)
		}
	})
}
