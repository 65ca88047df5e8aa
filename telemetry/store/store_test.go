package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/telemetry/store"
	"github.com/openiomt/sdk/telemetry/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "readings.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenPostgres(context.Background(), testenv.FreshPostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// The readings table has exactly these columns: identifiers, sequence,
// time, kind and numbers. A new column must be reviewed for PHI.
var allowedColumns = []string{"data", "device_id", "kind", "patient_id", "seq", "ts"}

func TestNoPHIColumnsPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.FreshPostgresDSN(t)
	s, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, _ := c.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = 'iomt_readings' ORDER BY column_name`)
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cols, allowedColumns) {
		t.Fatalf("columns %v, want %v", cols, allowedColumns)
	}
}

func TestNoPHIColumnsSQLite(t *testing.T) {
	t.Parallel()
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cols, err := store.SQLiteColumns(s)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(cols)
	want := []string{"data", "device_id", "kind", "patient_id", "seq", "ts_us"}
	if !slices.Equal(cols, want) {
		t.Fatalf("columns %v, want %v", cols, want)
	}
}
