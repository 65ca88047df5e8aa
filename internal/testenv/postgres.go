package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDSN returns IOMT_TEST_POSTGRES_DSN, the shared test database.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("IOMT_TEST_POSTGRES_DSN")
	if dsn == "" {
		missing(t, "IOMT_TEST_POSTGRES_DSN not set")
	}
	return dsn
}

// FreshPostgresDSN creates an empty database for this test on the server of
// IOMT_TEST_POSTGRES_DSN, drops it when the test ends, and returns its DSN.
// Tests in different packages run in parallel, so each gets its own database.
func FreshPostgresDSN(t testing.TB) string {
	t.Helper()
	base := PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testenv: connect to %s: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "iomt_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("testenv: IOMT_TEST_POSTGRES_DSN must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String()
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}
