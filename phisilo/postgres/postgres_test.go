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

// TestTwoServersShareTheChain: two API servers (two backends, each
// caching the chain head) appending concurrently to one database never
// fork or skip the chain: a stale cached head is detected and the
// transaction retried from the locked head row.
func TestTwoServersShareTheChain(t *testing.T) {
	dsn := testenv.FreshPostgresDSN(t)
	ctx := context.Background()
	ks, err := phisilo.NewKeyset("", nil)
	if err != nil {
		t.Fatal(err)
	}
	self := phisilo.Principal{UserID: "app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	const servers, workers, each = 2, 4, 10
	var silos []*phisilo.Silo
	for i := 0; i < servers; i++ {
		b := openDSN(t, dsn)
		t.Cleanup(func() { b.Close() })
		s, err := phisilo.New(phisilo.Config{Backend: b, Keys: ks})
		if err != nil {
			t.Fatal(err)
		}
		silos = append(silos, s)
	}
	errs := make(chan error, servers*workers)
	for _, s := range silos {
		for w := 0; w < workers; w++ {
			go func() {
				for i := 0; i < each; i++ {
					id, err := s.Register(ctx, self, phisilotest.MarkerRecord(), nil)
					if err == nil {
						own := phisilo.Principal{UserID: "u", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
						_, err = s.Get(ctx, own, id)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
	}
	for i := 0; i < servers*workers; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("server call: %v", err)
		}
	}
	n, err := silos[0].VerifyAudit(ctx)
	if err != nil || n != servers*workers*each*2 {
		t.Fatalf("VerifyAudit = %d, %v; want %d entries", n, err, servers*workers*each*2)
	}
}
