package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/phisilotest"
	"github.com/openiomt/sdk/phisilo/sqlite"
)

func openAt(t *testing.T, path string) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	phisilotest.Run(t, phisilotest.Harness{
		New: func(t *testing.T) phisilo.Backend { return openAt(t, filepath.Join(t.TempDir(), "silo.db")) },
		Reopen: func(t *testing.T, b phisilo.Backend) phisilo.Backend {
			path := b.(*sqlite.Backend).Path()
			b.Close()
			return openAt(t, path)
		},
	})
}
