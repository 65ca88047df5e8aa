package ota

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// genReader yields n deterministic bytes without holding them: a 1 MiB
// pattern repeated, so both benchmarks pay the same, small, source cost.
type genReader struct {
	pattern []byte
	off     int64
	n       int64
}

func newGenReader(pattern []byte, n int64) *genReader { return &genReader{pattern: pattern, n: n} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rem := g.n - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	total := 0
	for len(p) > 0 {
		i := int(g.off % int64(len(g.pattern)))
		c := copy(p, g.pattern[i:])
		p = p[c:]
		g.off += int64(c)
		total += c
	}
	return total, nil
}

// heapPeak samples live heap bytes every 500µs until stopped and reports
// the peak above the starting level.
type heapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	base uint64
	peak uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func readHeap() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{stop: make(chan struct{}), base: readHeap()}
	h.peak = h.base
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				if v := readHeap(); v > h.peak {
					h.peak = v
				}
			}
		}
	}()
	return h
}

func (h *heapPeak) done() uint64 {
	close(h.stop)
	h.wg.Wait()
	if v := readHeap(); v > h.peak {
		h.peak = v
	}
	return h.peak - h.base
}

var benchSizes = []struct {
	name string
	n    int64
}{{"64MiB", 64 << 20}, {"1GiB", 1 << 30}}

func benchPattern() []byte {
	p := make([]byte, 1<<20)
	for i := range p {
		p[i] = byte(i*131 + i>>8)
	}
	return p
}

// digestOf hashes the generated stream once (outside the timer).
func digestOf(p []byte, n int64) string {
	h := sha256.New()
	io.Copy(h, newGenReader(p, n))
	return hex.EncodeToString(h.Sum(nil))
}

func skipLarge(b *testing.B, n int64) {
	if n > 64<<20 && os.Getenv("OTA_BENCH_LARGE") == "" {
		b.Skip("set OTA_BENCH_LARGE=1 for the 1 GiB run")
	}
}

// BenchmarkVerifyImage streams a generated image through the full Verifier
// (manifest check, length bound, SHA-256, constant-time compare).
func BenchmarkVerifyImage(b *testing.B) {
	p := benchPattern()
	f := newFixture(b, 1, 1, 1, 1)
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			skipLarge(b, sz.n)
			m := manifestFor(nil)
			m.Length, m.SHA256 = sz.n, digestOf(p, sz.n)
			signed := f.sign(m)
			b.SetBytes(sz.n)
			var peak uint64
			b.ResetTimer()
			for range b.N {
				hp := startHeapPeak()
				v := f.verifier(0, 0)
				if _, err := v.VerifyManifest(signed); err != nil {
					b.Fatal(err)
				}
				if err := v.VerifyImage(newGenReader(p, sz.n), nil); err != nil {
					b.Fatal(err)
				}
				peak = max(peak, hp.done())
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// BenchmarkSHA256Baseline is the baseline: bare crypto/sha256 over the
// same generated reader.
func BenchmarkSHA256Baseline(b *testing.B) { benchSHA256(b, nil) }

// BenchmarkSHA256BaselineBuf128K is the baseline with the Verifier's
// buffer size, so the comparison does not flatter the Verifier.
func BenchmarkSHA256BaselineBuf128K(b *testing.B) { benchSHA256(b, make([]byte, verifyBufSize)) }

func benchSHA256(b *testing.B, buf []byte) {
	p := benchPattern()
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			skipLarge(b, sz.n)
			want := digestOf(p, sz.n)
			b.SetBytes(sz.n)
			var peak uint64
			b.ResetTimer()
			for range b.N {
				hp := startHeapPeak()
				h := sha256.New()
				if _, err := io.CopyBuffer(h, newGenReader(p, sz.n), buf); err != nil {
					b.Fatal(err)
				}
				if hex.EncodeToString(h.Sum(nil)) != want {
					b.Fatal("digest")
				}
				peak = max(peak, hp.done())
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

func TestGenReaderDeterministic(t *testing.T) {
	p := benchPattern()
	a, _ := io.ReadAll(newGenReader(p, 3<<20+5))
	var b bytes.Buffer
	io.CopyBuffer(&b, newGenReader(p, 3<<20+5), make([]byte, 7777))
	if len(a) != 3<<20+5 || !bytes.Equal(a, b.Bytes()) {
		t.Fatal("generated stream depends on read size")
	}
}

// BenchmarkVerifyRatio alternates the Verifier and the bare crypto/sha256
// baseline (same generated reader, io.Copy) within each iteration, so load
// from other processes hits both alike, and reports throughput ratio
// (Verifier / baseline; the target is ≥ 0.9). Peak heap is measured by
// BenchmarkVerifyImage, without a sampler disturbing this comparison.
// "cpu-ratio" is the same ratio over the benchmark thread's CPU time, which
// excludes time the scheduler gave to other processes.
func BenchmarkVerifyRatio(b *testing.B) {
	p := benchPattern()
	f := newFixture(b, 1, 1, 1, 1)
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			skipLarge(b, sz.n)
			m := manifestFor(nil)
			m.Length, m.SHA256 = sz.n, digestOf(p, sz.n)
			signed := f.sign(m)
			b.SetBytes(2 * sz.n)
			var tv, tb, cv, cb time.Duration
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			for i := range b.N {
				runV := func() {
					start, cpu := time.Now(), threadCPU()
					v := f.verifier(0, 0)
					if _, err := v.VerifyManifest(signed); err != nil {
						b.Fatal(err)
					}
					if err := v.VerifyImage(newGenReader(p, sz.n), nil); err != nil {
						b.Fatal(err)
					}
					tv += time.Since(start)
					cv += threadCPU() - cpu
				}
				runB := func() {
					start, cpu := time.Now(), threadCPU()
					h := sha256.New()
					io.Copy(h, newGenReader(p, sz.n))
					h.Sum(nil)
					tb += time.Since(start)
					cb += threadCPU() - cpu
				}
				if i%2 == 0 {
					runV()
					runB()
				} else {
					runB()
					runV()
				}
			}
			mbs := func(d time.Duration) float64 { return float64(sz.n) * float64(b.N) / d.Seconds() / 1e6 }
			b.ReportMetric(mbs(tv), "verify-MB/s")
			b.ReportMetric(mbs(tb), "sha256-MB/s")
			b.ReportMetric(tb.Seconds()/tv.Seconds(), "ratio")
			if cv > 0 && cb > 0 {
				// Throughput ratio on thread CPU time: robust to other load.
				b.ReportMetric(cb.Seconds()/cv.Seconds(), "cpu-ratio")
			}
		})
	}
}
