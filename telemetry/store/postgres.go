package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openiomt/sdk/iomt"
)

const postgresSchema = `
CREATE TABLE IF NOT EXISTS iomt_readings (
	device_id  uuid        NOT NULL,
	seq        bigint      NOT NULL,
	patient_id uuid        NOT NULL,
	ts         timestamptz NOT NULL,
	kind       text        NOT NULL,
	data       jsonb       NOT NULL,
	PRIMARY KEY (device_id, seq)
);
CREATE INDEX IF NOT EXISTS iomt_readings_patient_ts ON iomt_readings (patient_id, ts);
`

// schemaLockID is the advisory lock key that serialises schema creation
// among ingest workers starting together.
const schemaLockID = 0x696f6d74_7264 // "iomtrd"

// Postgres is the [Store] on PostgreSQL (or a Postgres-wire engine). A
// batch is one INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING
// statement: one round trip, atomic, and idempotent on (device_id, seq)
// however many ingest workers write at once.
type Postgres struct {
	pool   *pgxpool.Pool
	owned  bool
	closed atomic.Bool
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to dsn, creates the readings table if needed and
// returns a Store that owns the connection pool.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: connect PostgreSQL: %w", err)
	}
	s, err := NewPostgres(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// NewPostgres uses an existing pool (not closed by Close) and creates the
// readings table if needed.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool) (*Postgres, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: connect PostgreSQL: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLockID)); err != nil {
		return nil, fmt.Errorf("store: schema lock: %w", err)
	}
	if _, err := tx.Exec(ctx, postgresSchema); err != nil {
		return nil, fmt.Errorf("store: create PostgreSQL schema: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: create PostgreSQL schema: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Insert implements [Store].
func (s *Postgres) Insert(ctx context.Context, readings []Reading) (InsertResult, error) {
	if s.closed.Load() {
		return InsertResult{}, ErrClosed
	}
	rs, err := normalize(readings)
	if err != nil || len(rs) == 0 {
		return InsertResult{}, err
	}
	devs := make([]pgtype.UUID, len(rs))
	pats := make([]pgtype.UUID, len(rs))
	seqs := make([]int64, len(rs))
	times := make([]time.Time, len(rs))
	kinds := make([]string, len(rs))
	datas := make([]string, len(rs))
	for i, r := range rs {
		devs[i] = pgtype.UUID{Bytes: [16]byte(r.DeviceID), Valid: true}
		pats[i] = pgtype.UUID{Bytes: [16]byte(r.PatientID), Valid: true}
		seqs[i] = int64(r.Seq)
		times[i] = r.Time
		kinds[i] = string(r.Kind)
		datas[i] = string(r.Data)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO iomt_readings (device_id, seq, patient_id, ts, kind, data)
		SELECT d, s, p, t, k, x::jsonb
		FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[]) AS u(d, s, p, t, k, x)
		ON CONFLICT (device_id, seq) DO NOTHING`,
		devs, seqs, pats, times, kinds, datas)
	if err != nil {
		return InsertResult{}, fmt.Errorf("store: insert: %w", err)
	}
	n := int(tag.RowsAffected())
	return InsertResult{Inserted: n, Duplicates: len(rs) - n}, nil
}

// ByPatient implements [Store].
func (s *Postgres) ByPatient(ctx context.Context, patient iomt.PatientID, r Range) ([]Reading, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	r, err := checkRange(patient, r)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT device_id, seq, patient_id, ts, kind, data::text FROM iomt_readings
		WHERE patient_id = $1 AND ts >= $2 AND ts < $3 AND ($4 = '' OR kind = $4)
		ORDER BY ts, device_id, seq LIMIT $5`,
		pgtype.UUID{Bytes: [16]byte(patient), Valid: true}, time.UnixMicro(ceilMicro(r.From)), time.UnixMicro(ceilMicro(r.To)), string(r.Kind), r.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return scanPostgres(rows)
}

// LatestByPatient implements [Store].
func (s *Postgres) LatestByPatient(ctx context.Context, patient iomt.PatientID) ([]Reading, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if patient.IsZero() {
		return nil, fmt.Errorf("%w: nil patient", ErrInvalidQuery)
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (device_id) device_id, seq, patient_id, ts, kind, data::text
		FROM iomt_readings WHERE patient_id = $1
		ORDER BY device_id, ts DESC, seq DESC LIMIT $2`,
		pgtype.UUID{Bytes: [16]byte(patient), Valid: true}, MaxDevicesPerPatient)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return scanPostgres(rows)
}

// Count returns the number of stored readings.
func (s *Postgres) Count(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM iomt_readings`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// Close closes the pool if OpenPostgres created it. It is idempotent.
func (s *Postgres) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.owned {
		s.pool.Close()
	}
	return nil
}

func scanPostgres(rows pgx.Rows) ([]Reading, error) {
	defer rows.Close()
	var out []Reading
	for rows.Next() {
		var (
			dev, pat pgtype.UUID
			seq      int64
			ts       time.Time
			kind     string
			data     string
		)
		if err := rows.Scan(&dev, &seq, &pat, &ts, &kind, &data); err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		out = append(out, Reading{DeviceID: iomt.DeviceID(dev.Bytes), Seq: uint64(seq), PatientID: iomt.PatientID(pat.Bytes),
			Time: ts.UTC(), Kind: iomt.Kind(kind), Data: json.RawMessage(data)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return out, nil
}
