package postgres_test

import (
	"context"
	"testing"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/phisilotest"
	"github.com/openiomt/sdk/phisilo/postgres"
)

func openDSN(t testing.TB, dsn string) *postgres.Backend {
	t.Helper()
	b, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	dsns := map[phisilo.Backend]string{}
	phisilotest.Run(t, phisilotest.Harness{
		New: func(t *testing.T) phisilo.Backend {
			dsn := testenv.FreshPostgresDSN(t)
			b := openDSN(t, dsn)
			dsns[b] = dsn
			return b
		},
		Reopen: func(t *testing.T, b phisilo.Backend) phisilo.Backend {
			dsn := dsns[b]
			b.Close()
			return openDSN(t, dsn)
		},
	})
}
