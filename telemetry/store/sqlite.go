package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/openiomt/sdk/iomt"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS iomt_readings (
	device_id  TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	patient_id TEXT    NOT NULL,
	ts_us      INTEGER NOT NULL,
	kind       TEXT    NOT NULL,
	data       TEXT    NOT NULL,
	PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS iomt_readings_patient_ts ON iomt_readings (patient_id, ts_us);
`

// SQLite is the embedded [Store]: one database file in WAL mode with
// synchronous=FULL, so a committed batch survives power loss. Writers are
// serialised by SQLite; readers run concurrently with them.
type SQLite struct {
	db     *sql.DB
	closed atomic.Bool
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database file at path and
// creates the readings table. The file holds only UUIDs, sequence numbers,
// times, kinds and numbers.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("store: empty SQLite path")
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: create SQLite schema: %w", err)
	}
	return &SQLite{db: db}, nil
}

// Insert implements [Store].
func (s *SQLite) Insert(ctx context.Context, readings []Reading) (InsertResult, error) {
	if s.closed.Load() {
		return InsertResult{}, ErrClosed
	}
	rs, err := normalize(readings)
	if err != nil || len(rs) == 0 {
		return InsertResult{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return InsertResult{}, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO iomt_readings (device_id, seq, patient_id, ts_us, kind, data)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, seq) DO NOTHING`)
	if err != nil {
		return InsertResult{}, fmt.Errorf("store: prepare insert: %w", err)
	}
	defer stmt.Close()
	var res InsertResult
	for _, r := range rs {
		out, err := stmt.ExecContext(ctx, r.DeviceID.String(), int64(r.Seq), r.PatientID.String(), r.Time.UnixMicro(), string(r.Kind), string(r.Data))
		if err != nil {
			return InsertResult{}, fmt.Errorf("store: insert: %w", err)
		}
		n, err := out.RowsAffected()
		if err != nil {
			return InsertResult{}, fmt.Errorf("store: insert: %w", err)
		}
		res.Inserted += int(n)
	}
	if err := tx.Commit(); err != nil {
		return InsertResult{}, fmt.Errorf("store: commit: %w", err)
	}
	res.Duplicates = len(rs) - res.Inserted
	return res, nil
}

// ByPatient implements [Store].
func (s *SQLite) ByPatient(ctx context.Context, patient iomt.PatientID, r Range) ([]Reading, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	r, err := checkRange(patient, r)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT device_id, seq, patient_id, ts_us, kind, data FROM iomt_readings
		WHERE patient_id = ? AND ts_us >= ? AND ts_us < ? AND (? = '' OR kind = ?)
		ORDER BY ts_us, device_id, seq LIMIT ?`,
		patient.String(), ceilMicro(r.From), ceilMicro(r.To), string(r.Kind), string(r.Kind), r.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return scanSQLite(rows)
}

// LatestByPatient implements [Store].
func (s *SQLite) LatestByPatient(ctx context.Context, patient iomt.PatientID) ([]Reading, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if patient.IsZero() {
		return nil, fmt.Errorf("%w: nil patient", ErrInvalidQuery)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT device_id, seq, patient_id, ts_us, kind, data FROM (
			SELECT *, ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY ts_us DESC, seq DESC) AS rn
			FROM iomt_readings WHERE patient_id = ?)
		WHERE rn = 1 ORDER BY device_id LIMIT ?`, patient.String(), MaxDevicesPerPatient)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return scanSQLite(rows)
}

// Count returns the number of stored readings.
func (s *SQLite) Count(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM iomt_readings`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// Close closes the database. It is idempotent.
func (s *SQLite) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

func scanSQLite(rows *sql.Rows) ([]Reading, error) {
	defer rows.Close()
	var out []Reading
	for rows.Next() {
		var (
			dev, pat, kind, data string
			seq, ts              int64
		)
		if err := rows.Scan(&dev, &seq, &pat, &ts, &kind, &data); err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		d, err1 := iomt.ParseDeviceID(dev)
		p, err2 := iomt.ParsePatientID(pat)
		if err1 != nil || err2 != nil {
			return nil, errors.New("store: scan: malformed UUID in table")
		}
		out = append(out, Reading{DeviceID: d, Seq: uint64(seq), PatientID: p,
			Time: time.UnixMicro(ts).UTC(), Kind: iomt.Kind(kind), Data: json.RawMessage(data)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return out, nil
}

// ceilMicro rounds t up to whole microseconds: for a stored time s (whole
// microseconds), s >= t exactly when s >= ceilMicro(t), and likewise for <.
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}
