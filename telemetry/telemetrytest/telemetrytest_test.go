package telemetrytest_test

import (
	"crypto/sha256"
	"io"
	"path/filepath"
	"testing"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/telemetrytest"
)

func TestMemoryReplayWindow(t *testing.T) {
	for _, window := range []int{64, 1000} {
		w, _ := telemetry.NewMemoryReplayWindow(telemetry.MemoryReplayConfig{Window: window})
		telemetrytest.ReplayWindow(t, func(*testing.T) telemetry.ReplayWindow {
			w, err := telemetry.NewMemoryReplayWindow(telemetry.MemoryReplayConfig{Window: window})
			if err != nil {
				t.Fatal(err)
			}
			return w
		}, w.Window())
	}
}

func TestMemoryResolver(t *testing.T) {
	r := &telemetry.MemoryResolver{}
	known := map[iomt.DeviceID]telemetry.DeviceKey{}
	for i, alg := range []telemetry.Algorithm{telemetry.ES256, telemetry.EdDSA, telemetry.EdDSA} {
		seed := sha256.Sum256([]byte{byte(i)})
		key, err := telemetry.GenerateKey(alg, &fixedReader{seed[:]})
		if err != nil {
			t.Fatal(err)
		}
		dev, _ := iomt.NewDeviceID(&fixedReader{seed[:]})
		k := telemetry.DeviceKey{Key: key.Public(), Status: telemetry.KeyActive}
		if i == 2 {
			k.Status = telemetry.KeyRevoked
		}
		if err := r.Set(dev, k); err != nil {
			t.Fatal(err)
		}
		known[dev] = k
	}
	telemetrytest.KeyResolver(t, r, known, iomt.MustParseDeviceID("0b7e3c2a-1d4f-4e6a-8b9c-7d2e1f0a3b4c"))
}

func TestSequenceStores(t *testing.T) {
	t.Run("FileSequence", func(t *testing.T) {
		open := func(t *testing.T) telemetry.SequenceStore {
			s, err := telemetry.OpenFileSequence(telemetry.FileSequenceConfig{Path: filepath.Join(t.TempDir(), "seq"), Block: 16})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		reopen := func(t *testing.T, old telemetry.SequenceStore) telemetry.SequenceStore {
			f := old.(*telemetry.FileSequence)
			path := f.Path()
			f.Close()
			s, err := telemetry.OpenFileSequence(telemetry.FileSequenceConfig{Path: path, Block: 16})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		telemetrytest.SequenceStore(t, open, reopen)
	})
	t.Run("MemorySequence", func(t *testing.T) {
		telemetrytest.SequenceStore(t, func(*testing.T) telemetry.SequenceStore { return telemetry.NewMemorySequence(0) }, nil)
	})
}

// fixedReader repeats its bytes: deterministic keys and IDs for tests.
type fixedReader struct{ b []byte }

func (r *fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b[i%len(r.b)]
	}
	return len(p), nil
}

var _ io.Reader = (*fixedReader)(nil)
