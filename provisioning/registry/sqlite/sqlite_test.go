package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/registrytest"
	"github.com/openiomt/sdk/provisioning/registry/sqlite"
)

func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T, now func() time.Time) provisioning.Registry {
		r, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "registry.db"), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
}

func TestReopenKeepsState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "registry.db")
	r, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ConsumeToken(ctx, "jti-reopen-000000", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r, err = sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.ConsumeToken(ctx, "jti-reopen-000000", time.Now().Add(time.Hour)); err == nil {
		t.Fatal("token ledger forgot a consumed token across a restart")
	}
}

func TestOpenWithoutPath(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), sqlite.Config{}); err == nil {
		t.Fatal("empty path accepted")
	}
}
