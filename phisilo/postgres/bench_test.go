package postgres_test

import (
	"testing"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/phisilotest"
)

func BenchmarkPutGet(b *testing.B) {
	phisilotest.BenchmarkPutGet(b, func(b *testing.B) phisilo.Backend {
		be := openDSN(b, testenv.FreshPostgresDSN(b))
		return be
	})
}
