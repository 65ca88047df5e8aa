// Package sqlstore is the SQL device registry shared by the sqlite and
// postgres packages: one schema, portable statements, and a dialect for
// placeholders and column types.
package sqlstore

import (
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/internal/keyres"
	"github.com/openiomt/sdk/telemetry"
)

// Dialect adapts statements to a database.
type Dialect struct {
	// Numbered selects $1-style placeholders (PostgreSQL) instead of ?.
	Numbered bool
	// Blob is the binary column type: BLOB or BYTEA.
	Blob string
}

// Store implements provisioning.Registry over database/sql.
type Store struct {
	db  *sql.DB
	d   Dialect
	now func() time.Time
}

// New returns a Store over db; Migrate must have run.
func New(db *sql.DB, d Dialect, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, d: d, now: now}
}

// Migrate creates the tables when missing. It is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS iomt_devices (
			device_id      TEXT PRIMARY KEY,
			status         TEXT NOT NULL,
			patient_id     TEXT,
			public_key     ` + s.d.Blob + `,
			cert_serial    TEXT,
			cert_not_after BIGINT,
			pairing_key    ` + s.d.Blob + `,
			created_at     BIGINT NOT NULL,
			updated_at     BIGINT NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS iomt_enrollment_tokens (
			jti        TEXT PRIMARY KEY,
			expires_at BIGINT NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS iomt_enrollment_tokens_expires ON iomt_enrollment_tokens (expires_at)`,
		`CREATE TABLE IF NOT EXISTS iomt_certificates (
			serial    TEXT PRIMARY KEY,
			device_id TEXT NOT NULL,
			not_after BIGINT NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS iomt_certificates_not_after ON iomt_certificates (not_after)`,
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("provisioning: registry: migrate: %w", err)
		}
	}
	return nil
}

// q rewrites ? placeholders for the dialect.
func (s *Store) q(query string) string {
	if !s.d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func dbErr(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Driver errors name tables and constraints, never row values.
	return fmt.Errorf("provisioning: registry: %s: %w", op, err)
}

// Register implements provisioning.Registry.
func (s *Store) Register(ctx context.Context, device iomt.DeviceID, pairingKey crypto.PublicKey) error {
	if device.IsZero() {
		return provisioning.RegistryError("device", iomt.ErrInvalidID)
	}
	var pk []byte
	if pairingKey != nil {
		var err error
		if pk, err = x509.MarshalPKIXPublicKey(pairingKey); err != nil {
			return provisioning.RegistryError("pairing key", provisioning.ErrUnsupportedKey)
		}
	}
	now := s.now().UnixMicro()
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO iomt_devices (device_id, status, pairing_key, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO NOTHING`),
		device.String(), string(provisioning.StatusProvisioned), pk, now, now)
	if err != nil {
		return dbErr("register", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("register", err)
	} else if n == 0 {
		return provisioning.RegistryError("device", provisioning.ErrAlreadyExists)
	}
	return nil
}

// deviceColumns are the columns scanDevice reads, in order.
const deviceColumns = `device_id, status, patient_id, public_key, cert_serial, cert_not_after, pairing_key, created_at, updated_at`

// scanDevice reads one row of deviceColumns.
func scanDevice(row interface{ Scan(...any) error }) (provisioning.Device, error) {
	var (
		id, status       string
		patient, serial  sql.NullString
		pub, pairing     []byte
		notAfter         sql.NullInt64
		created, updated int64
	)
	if err := row.Scan(&id, &status, &patient, &pub, &serial, &notAfter, &pairing, &created, &updated); err != nil {
		return provisioning.Device{}, err
	}
	device, err := iomt.ParseDeviceID(id)
	if err != nil {
		return provisioning.Device{}, provisioning.RegistryError("device", provisioning.ErrMalformed)
	}
	d := provisioning.Device{ID: device, Status: provisioning.DeviceStatus(status),
		CreatedAt: time.UnixMicro(created), UpdatedAt: time.UnixMicro(updated)}
	if !d.Status.Valid() {
		return provisioning.Device{}, provisioning.RegistryError("status", provisioning.ErrMalformed)
	}
	if patient.Valid {
		if d.Patient, err = iomt.ParsePatientID(patient.String); err != nil {
			return provisioning.Device{}, provisioning.RegistryError("patient", provisioning.ErrMalformed)
		}
	}
	if len(pub) > 0 {
		if d.PublicKey, err = x509.ParsePKIXPublicKey(pub); err != nil {
			return provisioning.Device{}, provisioning.RegistryError("public key", provisioning.ErrMalformed)
		}
	}
	if len(pairing) > 0 {
		if d.PairingKey, err = x509.ParsePKIXPublicKey(pairing); err != nil {
			return provisioning.Device{}, provisioning.RegistryError("pairing key", provisioning.ErrMalformed)
		}
	}
	if serial.Valid {
		v, ok := new(big.Int).SetString(serial.String, 16)
		if !ok {
			return provisioning.Device{}, provisioning.RegistryError("certificate serial", provisioning.ErrMalformed)
		}
		d.CertSerial = v
	}
	if notAfter.Valid {
		d.CertNotAfter = time.UnixMicro(notAfter.Int64)
	}
	return d, nil
}

// Lookup implements provisioning.Registry.
func (s *Store) Lookup(ctx context.Context, device iomt.DeviceID) (provisioning.Device, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, s.q(`SELECT `+deviceColumns+` FROM iomt_devices WHERE device_id = ?`), device.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return provisioning.Device{}, provisioning.RegistryError("device", provisioning.ErrUnknownDevice)
	}
	if err != nil {
		var pe *provisioning.Error
		if errors.As(err, &pe) {
			return provisioning.Device{}, err
		}
		return provisioning.Device{}, dbErr("lookup", err)
	}
	return d, nil
}

// List implements provisioning.DeviceLister with keyset pagination on the
// primary key. Device IDs are canonical lower-case UUID strings of equal
// length with hyphens at the same places, so they sort the same under any
// collation (byte order in SQLite, the database collation in PostgreSQL).
func (s *Store) List(ctx context.Context, opts provisioning.ListOptions) ([]provisioning.Device, error) {
	opts, err := opts.Normalize()
	if err != nil {
		return nil, err
	}
	query := `SELECT ` + deviceColumns + ` FROM iomt_devices WHERE device_id > ?`
	args := []any{""}
	if !opts.After.IsZero() {
		args[0] = opts.After.String()
	}
	if !opts.Patient.IsZero() {
		query += ` AND patient_id = ?`
		args = append(args, opts.Patient.String())
	}
	if opts.Status != "" {
		query += ` AND status = ?`
		args = append(args, string(opts.Status))
	}
	query += ` ORDER BY device_id LIMIT ` + strconv.Itoa(opts.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, dbErr("list", err)
	}
	defer rows.Close()
	out := make([]provisioning.Device, 0, min(opts.Limit, 64))
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			var pe *provisioning.Error
			if errors.As(err, &pe) {
				return nil, err
			}
			return nil, dbErr("list", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list", err)
	}
	return out, nil
}

// Activate implements provisioning.Registry with one conditional UPDATE, so
// a concurrent Revoke can never be overwritten, and records the certificate
// in the same transaction.
func (s *Store) Activate(ctx context.Context, e provisioning.Enrollment) (err error) {
	if err := provisioning.ValidateEnrollment(e); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(e.PublicKey)
	if err != nil {
		return provisioning.RegistryError("public key", provisioning.ErrUnsupportedKey)
	}
	var patient any
	if !e.Patient.IsZero() {
		patient = e.Patient.String()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("activate", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE iomt_devices SET status = ?, patient_id = COALESCE(?, patient_id),
		public_key = ?, cert_serial = ?, cert_not_after = ?, updated_at = ?
		WHERE device_id = ? AND status IN (?, ?)`),
		string(provisioning.StatusActive), patient, pub, e.CertSerial.Text(16), e.CertNotAfter.UnixMicro(),
		s.now().UnixMicro(), e.Device.String(), string(provisioning.StatusProvisioned), string(provisioning.StatusActive))
	if err != nil {
		return dbErr("activate", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr("activate", err)
	}
	if n == 1 {
		if _, err = tx.ExecContext(ctx, s.q(`INSERT INTO iomt_certificates (serial, device_id, not_after) VALUES (?, ?, ?)
			ON CONFLICT (serial) DO NOTHING`), e.CertSerial.Text(16), e.Device.String(), e.CertNotAfter.UnixMicro()); err != nil {
			return dbErr("activate", err)
		}
		if err = tx.Commit(); err != nil {
			return dbErr("activate", err)
		}
		return nil
	}
	if err = tx.Rollback(); err != nil {
		return dbErr("activate", err)
	}
	if _, err := s.Lookup(ctx, e.Device); err != nil {
		return err
	}
	return provisioning.RegistryError("status", provisioning.ErrRevoked)
}

// Revoke implements provisioning.Registry.
func (s *Store) Revoke(ctx context.Context, device iomt.DeviceID) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE iomt_devices SET status = ?, updated_at = ?
		WHERE device_id = ? AND status <> ?`),
		string(provisioning.StatusRevoked), s.now().UnixMicro(), device.String(), string(provisioning.StatusDecommissioned))
	if err != nil {
		return dbErr("revoke", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("revoke", err)
	} else if n == 1 {
		return nil
	}
	if _, err := s.Lookup(ctx, device); err != nil {
		return err
	}
	return provisioning.RegistryError("status", provisioning.ErrInvalidTransition)
}

// Decommission implements provisioning.Registry.
func (s *Store) Decommission(ctx context.Context, device iomt.DeviceID) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE iomt_devices SET status = ?, patient_id = NULL, updated_at = ?
		WHERE device_id = ?`), string(provisioning.StatusDecommissioned), s.now().UnixMicro(), device.String())
	if err != nil {
		return dbErr("decommission", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("decommission", err)
	} else if n == 0 {
		return provisioning.RegistryError("device", provisioning.ErrUnknownDevice)
	}
	return nil
}

// RevokedSerials implements provisioning.Registry. It also deletes
// certificate records that have expired.
func (s *Store) RevokedSerials(ctx context.Context) ([]*big.Int, error) {
	now := s.now().UnixMicro()
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM iomt_certificates WHERE not_after <= ?`), now); err != nil {
		return nil, dbErr("revoked serials", err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT c.serial FROM iomt_certificates c
		JOIN iomt_devices d ON d.device_id = c.device_id
		WHERE c.not_after > ? AND (d.status <> ? OR d.cert_serial IS NULL OR d.cert_serial <> c.serial)`),
		now, string(provisioning.StatusActive))
	if err != nil {
		return nil, dbErr("revoked serials", err)
	}
	defer rows.Close()
	var out []*big.Int
	for rows.Next() {
		var hex string
		if err := rows.Scan(&hex); err != nil {
			return nil, dbErr("revoked serials", err)
		}
		v, ok := new(big.Int).SetString(hex, 16)
		if !ok {
			return nil, provisioning.RegistryError("certificate serial", provisioning.ErrMalformed)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("revoked serials", err)
	}
	return out, nil
}

// ResolveDeviceKey implements telemetry.KeyResolver (see keyres.Resolve).
func (s *Store) ResolveDeviceKey(ctx context.Context, device iomt.DeviceID) (telemetry.DeviceKey, error) {
	return keyres.Resolve(s.Lookup(ctx, device))
}

// CheckCertificate implements provisioning.RevocationChecker.
func (s *Store) CheckCertificate(ctx context.Context, device iomt.DeviceID, serial *big.Int) error {
	d, err := s.Lookup(ctx, device)
	if err != nil {
		return err
	}
	return provisioning.CheckDeviceCertificate(d, serial)
}

// ConsumeToken implements provisioning.TokenLedger. It also deletes ledger
// rows whose tokens expired more than an hour ago, which can no longer
// verify.
func (s *Store) ConsumeToken(ctx context.Context, id string, expires time.Time) error {
	if id == "" || len(id) > 128 {
		return provisioning.RegistryError("token", provisioning.ErrMalformed)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM iomt_enrollment_tokens WHERE expires_at < ?`),
		s.now().Add(-time.Hour).UnixMicro()); err != nil {
		return dbErr("consume token", err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO iomt_enrollment_tokens (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO NOTHING`), id, expires.UnixMicro())
	if err != nil {
		return dbErr("consume token", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("consume token", err)
	} else if n == 0 {
		return provisioning.RegistryError("token", provisioning.ErrReplay)
	}
	return nil
}
