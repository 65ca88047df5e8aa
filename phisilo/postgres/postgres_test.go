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

// TestConcurrentStartup: several API servers starting at once on an empty
// database all migrate successfully.
func TestConcurrentStartup(t *testing.T) {
	dsn := testenv.FreshPostgresDSN(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			b, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn, MaxConns: 2})
			if err == nil {
				b.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
}
