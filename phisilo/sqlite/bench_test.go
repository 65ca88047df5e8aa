package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/phisilotest"
	"github.com/openiomt/sdk/phisilo/sqlite"
)

func BenchmarkPutGet(b *testing.B) {
	phisilotest.BenchmarkPutGet(b, func(b *testing.B) phisilo.Backend {
		be, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "bench.db")})
		if err != nil {
			b.Fatal(err)
		}
		return be
	})
}

// BenchmarkPutGetUnsafeNoSync is BenchmarkPutGet with synchronous=NORMAL
// on both sides: it shows the CPU cost of encryption and audit once the
// per-commit fsync is taken out.
func BenchmarkPutGetUnsafeNoSync(b *testing.B) {
	phisilotest.BenchmarkPutGet(b, func(b *testing.B) phisilo.Backend {
		be, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "bench.db"), UnsafeNoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		return be
	})
}
