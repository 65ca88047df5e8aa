package telemetry

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/openiomt/sdk/iomt"
)

// ReplayWindow is the per-device replay state a [Verifier] consults. Both
// methods must be safe for concurrent use.
//
// Check reports, without recording anything, whether seq would be accepted
// for dev: nil, or an error wrapping [ErrReplay] (seq already recorded) or
// [ErrSeqTooOld] (seq so far behind the highest recorded that the window no
// longer covers it). Record performs the same check and, if it passes,
// records seq — atomically, so that of two concurrent Records of one seq
// exactly one succeeds.
//
// # Sharing state across workers
//
// [MemoryReplayWindow] lives in one process. Ingest workers on an MQTT
// shared subscription each see only part of a device's messages, so a
// replayed envelope may reach a worker that never saw the original and
// pass its window. That is safe because the readings store is keyed and
// idempotent on (device, seq): a replay can only rewrite the identical
// signed reading. A deployment that wants replays rejected before storage
// across the whole cluster implements ReplayWindow over shared storage
// (for example a PostgreSQL table of (device, highest, bitmap) updated with
// a conditional UPDATE, or Redis with a Lua script).
type ReplayWindow interface {
	Check(ctx context.Context, dev iomt.DeviceID, seq uint64) error
	Record(ctx context.Context, dev iomt.DeviceID, seq uint64) error
}

// Defaults and limits of [MemoryReplayConfig].
const (
	// DefaultReplayWindow is the default number of sequence numbers behind
	// the highest accepted one that may still arrive (out of order).
	DefaultReplayWindow = 1024
	// MaxReplayWindow bounds ReplayConfig.Window.
	MaxReplayWindow = 1 << 16
	// DefaultReplayDevices is the default number of devices tracked.
	DefaultReplayDevices = 100_000
)

// MemoryReplayConfig configures a [MemoryReplayWindow]. The zero value is
// ready to use.
type MemoryReplayConfig struct {
	// Window is how far behind the highest accepted sequence number an
	// envelope may arrive and still be accepted once. It is rounded up to a
	// multiple of 64. Zero means DefaultReplayWindow; at most
	// MaxReplayWindow. Each tracked device costs Window/8 bytes plus about
	// 150 bytes of bookkeeping.
	Window int
	// MaxDevices bounds the devices tracked. When a new device arrives at
	// the limit, the least recently seen one is forgotten; its next
	// envelope then starts a fresh window (see ReplayWindow on why that is
	// safe with an idempotent store). Zero means DefaultReplayDevices.
	MaxDevices int
}

// MemoryReplayWindow is a [ReplayWindow] in process memory: a sliding
// bitmap per device, and a least-recently-used bound on the number of
// devices, so memory stays bounded for any fleet size. It is safe for
// concurrent use. Create it with [NewMemoryReplayWindow]; the zero value
// is not usable.
type MemoryReplayWindow struct {
	words      int // bitmap words per device
	maxDevices int

	mu  sync.Mutex
	m   map[iomt.DeviceID]*list.Element
	lru list.List // of *deviceWindow, most recent first
}

type deviceWindow struct {
	dev     iomt.DeviceID
	highest uint64
	bits    []uint64 // bit (seq mod window) set: seq accepted
}

var _ ReplayWindow = (*MemoryReplayWindow)(nil)

// NewMemoryReplayWindow returns an empty window configured by cfg, which is
// not retained.
func NewMemoryReplayWindow(cfg MemoryReplayConfig) (*MemoryReplayWindow, error) {
	if cfg.Window < 0 || cfg.Window > MaxReplayWindow {
		return nil, fmt.Errorf("telemetry: replay window must be 0-%d", MaxReplayWindow)
	}
	if cfg.MaxDevices < 0 {
		return nil, fmt.Errorf("telemetry: replay MaxDevices must not be negative")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultReplayWindow
	}
	if cfg.MaxDevices == 0 {
		cfg.MaxDevices = DefaultReplayDevices
	}
	w := &MemoryReplayWindow{
		words:      (cfg.Window + 63) / 64,
		maxDevices: cfg.MaxDevices,
		m:          make(map[iomt.DeviceID]*list.Element),
	}
	w.lru.Init()
	return w, nil
}

// Window returns the effective window size in sequence numbers.
func (w *MemoryReplayWindow) Window() uint64 { return uint64(w.words) * 64 }

// Check implements ReplayWindow.
func (w *MemoryReplayWindow) Check(ctx context.Context, dev iomt.DeviceID, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[dev]
	if !ok {
		return nil
	}
	return w.check(e.Value.(*deviceWindow), seq)
}

func (w *MemoryReplayWindow) check(d *deviceWindow, seq uint64) error {
	if seq > d.highest {
		return nil
	}
	if d.highest-seq >= w.Window() {
		return reject(ErrSeqTooOld, "seq")
	}
	pos := seq % w.Window()
	if d.bits[pos/64]&(1<<(pos%64)) != 0 {
		return reject(ErrReplay, "seq")
	}
	return nil
}

// Record implements ReplayWindow.
func (w *MemoryReplayWindow) Record(ctx context.Context, dev iomt.DeviceID, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[dev]
	if !ok {
		d := &deviceWindow{dev: dev, highest: seq, bits: make([]uint64, w.words)}
		d.set(seq, w.Window())
		w.m[dev] = w.lru.PushFront(d)
		for len(w.m) > w.maxDevices {
			old := w.lru.Remove(w.lru.Back()).(*deviceWindow)
			delete(w.m, old.dev)
		}
		return nil
	}
	d := e.Value.(*deviceWindow)
	if err := w.check(d, seq); err != nil {
		return err
	}
	win := w.Window()
	if seq > d.highest {
		if seq-d.highest >= win {
			clear(d.bits)
		} else {
			for s := d.highest + 1; s < seq; s++ {
				d.clear(s, win)
			}
		}
		d.highest = seq
	}
	d.set(seq, win)
	w.lru.MoveToFront(e)
	return nil
}

// Forget drops the state of dev, for example after the device was
// re-provisioned with a fresh sequence store.
func (w *MemoryReplayWindow) Forget(dev iomt.DeviceID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[dev]; ok {
		w.lru.Remove(e)
		delete(w.m, dev)
	}
}

// Len returns the number of devices tracked.
func (w *MemoryReplayWindow) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

func (d *deviceWindow) set(seq, win uint64) {
	pos := seq % win
	d.bits[pos/64] |= 1 << (pos % 64)
}

func (d *deviceWindow) clear(seq, win uint64) {
	pos := seq % win
	d.bits[pos/64] &^= 1 << (pos % 64)
}
