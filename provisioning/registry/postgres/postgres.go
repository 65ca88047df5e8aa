// Package postgres is a [provisioning.Registry] on PostgreSQL (or a
// Postgres-wire distributed engine) through pgx. Any number of enrolment
// servers and ingest workers may share one database: every state change is
// a single conditional statement.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/internal/sqlstore"
	"github.com/openiomt/sdk/telemetry"
)

// Config configures Open. DSN is required.
type Config struct {
	// DSN is a postgres:// URL or key=value connection string.
	DSN string
	// MaxOpenConns bounds the connection pool; zero means 10.
	MaxOpenConns int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Registry is a device registry in PostgreSQL, safe for concurrent use.
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

// Open connects to cfg.DSN and creates the registry tables when missing.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.DSN == "" {
		return nil, provisioning.RegistryError("dsn", provisioning.ErrInvalidConfig)
	}
	if cfg.MaxOpenConns <= 0 {
		cfg.MaxOpenConns = 10
	}
	connCfg, err := pgxConfig(cfg.DSN)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*connCfg)
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// pgx errors may echo the DSN's host but never its password.
		return nil, fmt.Errorf("provisioning: registry: connect to postgres: %w", err)
	}
	s := sqlstore.New(db, sqlstore.Dialect{Numbered: true, Blob: "BYTEA"}, cfg.Now)
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &Registry{Store: s, db: db}, nil
}

// Close closes the connection pool.
func (r *Registry) Close() error { return r.db.Close() }
