package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/postgres"
	"github.com/openiomt/sdk/provisioning/registry/registrytest"
)

func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T, now func() time.Time) provisioning.Registry {
		r, err := postgres.Open(context.Background(), postgres.Config{DSN: testenv.FreshPostgresDSN(t), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
}

func TestBadDSNDoesNotLeakPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), postgres.Config{DSN: "postgres://u:s3cret@127.0.0.1:1/x?sslmode=bogus"})
	if err == nil {
		t.Fatal("bad DSN accepted")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}
