// Package sqlite is a [provisioning.Registry] on SQLite through the pure-Go
// modernc.org/sqlite driver (no cgo), for a single cloud node, a factory
// station or a lab bench. For several nodes use the postgres package.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/internal/sqlstore"
	"github.com/openiomt/sdk/telemetry"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Config configures Open. Path is required.
type Config struct {
	// Path is the database file; it is created when missing. ":memory:"
	// gives a private in-memory database.
	Path string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Registry is a device registry in one SQLite file, safe for concurrent
// use (writes are serialized by SQLite; busy_timeout waits for the lock).
type Registry struct {
	*sqlstore.Store
	db *sql.DB
}

// Registry is the device registry for enrolment, the revocation checker
// for TLS servers, the telemetry.KeyResolver for ingest and a
// provisioning.DeviceLister for fleet views: revoking a
// device stops its enrolment, its connections and its telemetry.
var (
	_ provisioning.Registry     = (*Registry)(nil)
	_ provisioning.DeviceLister = (*Registry)(nil)
	_ telemetry.KeyResolver     = (*Registry)(nil)
)

// Open opens or creates the database at cfg.Path in WAL mode and creates the
// registry tables when missing.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Path == "" {
		return nil, provisioning.RegistryError("path", provisioning.ErrInvalidConfig)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+cfg.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("provisioning: registry: open sqlite: %w", err)
	}
	if cfg.Path == ":memory:" {
		db.SetMaxOpenConns(1) // each connection would get its own database
	}
	s := sqlstore.New(db, sqlstore.Dialect{Blob: "BLOB"}, cfg.Now)
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &Registry{Store: s, db: db}, nil
}

// Close closes the database.
func (r *Registry) Close() error { return r.db.Close() }
