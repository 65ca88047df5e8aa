// Package sqlite is the embedded default [phisilo.Backend]: one SQLite
// file through the pure-Go modernc.org/sqlite driver (no cgo).
//
// The database runs in WAL mode with secure_delete on, so the bytes of a
// deleted (crypto-shredded) data key are overwritten rather than left in a
// free page, and with synchronous=FULL so a committed access and its audit
// event survive a power loss together. Write transactions start with
// BEGIN IMMEDIATE, which serializes appenders on the audit chain across
// goroutines and processes; busy_timeout makes them wait rather than fail.
//
// The backend stores only ciphertext, wrapped keys, grants, password
// hashes, session-token hashes and audit events.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/internal/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Config configures Open. The zero value is not usable: Path is required.
type Config struct {
	// Path of the database file; created (mode 0600 by the umask of the
	// process; put it in a 0700 directory) if missing.
	Path string
	// UnsafeNoSync sets synchronous=NORMAL: commits skip the fsync, so a
	// power loss can drop the last committed accesses and their audit
	// events (never corrupt the file). For tests and benchmarks.
	UnsafeNoSync bool
}

// Backend is a SQLite backend.
type Backend struct {
	*sqlstore.Store
	path string
}

// Path returns the database file's path.
func (b *Backend) Path() string { return b.path }

var _ phisilo.Backend = (*Backend)(nil)

// Open opens (creating if needed) the database and migrates its schema.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Path == "" {
		return nil, &phisilo.FieldError{Field: "sqlite.Config.Path", Reason: "required"}
	}
	db, err := sql.Open("sqlite", DSN(cfg))
	if err != nil {
		return nil, fmt.Errorf("phisilo: sqlite: open: %w", err)
	}
	// One connection: SQLite has one writer anyway, and every silo call
	// writes its audit event. This also keeps BEGIN IMMEDIATE from
	// queueing on busy_timeout within the process.
	db.SetMaxOpenConns(1)
	s := sqlstore.New(db, sqlstore.Dialect{Name: "sqlite", Rebind: true, Blob: "BLOB", Int: "INTEGER", Prefix: "phisilo_", Prepare: true, LastRowHead: true,
		HasColumn: `SELECT count(*) FROM pragma_table_info($1) WHERE name = $2`})
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &Backend{Store: s, path: cfg.Path}, nil
}

// DSN returns the driver data source name Open uses.
func DSN(cfg Config) string {
	sync := "FULL"
	if cfg.UnsafeNoSync {
		sync = "NORMAL"
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "secure_delete(ON)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_txlock", "immediate")
	return "file:" + url.PathEscape(cfg.Path) + "?" + q.Encode()
}
