// Package postgres is the PostgreSQL [phisilo.Backend], for a silo shared
// by many stateless API servers. It uses pgx/v5 through database/sql.
//
// Every access and its audit event commit in one transaction. Appenders
// serialize on the audit head row (SELECT … FOR UPDATE), so any number of
// processes can share the chain without forking it. The backend stores
// only ciphertext, wrapped keys, grants, password hashes, session-token
// hashes and audit events. Deleted rows stay in the heap until VACUUM:
// schedule VACUUM so crypto-shredded key bytes do not linger.
package postgres

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/internal/sqlstore"
)

// Config configures Open. DSN is required.
type Config struct {
	// DSN is a pgx connection string (use sslmode=verify-full off loopback).
	DSN string
	// MaxConns bounds the connection pool; zero means 10.
	MaxConns int
}

// Backend is a PostgreSQL backend.
type Backend struct {
	*sqlstore.Store
}

var _ phisilo.Backend = (*Backend)(nil)

// Open connects and migrates the schema (tables prefixed "phisilo_").
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.DSN == "" {
		return nil, &phisilo.FieldError{Field: "postgres.Config.DSN", Reason: "required"}
	}
	db, err := sql.Open("pgx", cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("phisilo: postgres: open: %w", err)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 10
	}
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	s := sqlstore.New(db, sqlstore.Dialect{Name: "postgres", Blob: "BYTEA", Int: "BIGINT", LockHead: " FOR UPDATE", Prefix: "phisilo_", Lanes: min(cfg.MaxConns, 2), CachedHead: true,
		MigrateLock: "SELECT pg_advisory_xact_lock(7079186207397716225)",
		HasColumn:   "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"})
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &Backend{Store: s}, nil
}
