package outbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

var benchPayload = make([]byte, 420) // a typical ES256 blood-pressure envelope

// BenchmarkAppend measures a durable Append (write + fsync) by one writer;
// BenchmarkBaselineWriteFsync is the raw floor: the same bytes appended to
// a file with write + fsync. The ratio is the outbox's overhead.
func BenchmarkAppend(b *testing.B) {
	o, err := Open(b.TempDir(), Config{MaxEntries: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		id, err := o.Append(ctx, "iomt/v1/6f1c2a9e-4b7d-4c1e-9a3f-2d5b8e7c1a40/telemetry/blood_pressure", benchPayload)
		if err != nil {
			b.Fatal(err)
		}
		o.Claim(1)
		o.Ack(id)
	}
}

func BenchmarkBaselineWriteFsync(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := appendEntry(nil, 1, "iomt/v1/6f1c2a9e-4b7d-4c1e-9a3f-2d5b8e7c1a40/telemetry/blood_pressure", benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendParallel shows group commit: concurrent Appends share
// fsyncs, so throughput grows with writers while each stays durable.
func BenchmarkAppendParallel(b *testing.B) {
	o, err := Open(b.TempDir(), Config{MaxEntries: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := o.Append(context.Background(), "iomt/v1/x/telemetry/blood_pressure", benchPayload)
			if err != nil {
				b.Error(err)
				return
			}
			o.Ack(id)
		}
	})
}
