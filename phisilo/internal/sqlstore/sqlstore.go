// Package sqlstore is the SQL implementation of phisilo.Backend shared by
// the sqlite and postgres backends. Queries are written with $n
// placeholders, each used once and in order, and rebound for SQLite.
package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

// Dialect holds what differs between engines.
type Dialect struct {
	Name      string
	Rebind    bool   // $n → ?
	Blob      string // BLOB | BYTEA
	Int       string // INTEGER | BIGINT
	LockHead  string // suffix locking the audit head row, e.g. " FOR UPDATE"
	TxOptions *sql.TxOptions
	Prefix    string // table name prefix
	// Prepare caches prepared statements on the *sql.DB (worth it for
	// SQLite, whose driver does not; pgx caches statements itself).
	Prepare bool
	// LastRowHead reads the chain head from the last audit row instead of
	// a locked head row: correct only where write transactions are fully
	// serialized (SQLite's BEGIN IMMEDIATE), and one write cheaper.
	LastRowHead bool
	// Lanes is how many audit-appending transactions the silo should run
	// at once (see phisilo.CommitLaner); zero means 1.
	Lanes int
	// HasColumn is a query with two placeholders (table, column) counting
	// whether a column exists, for additive migrations.
	HasColumn string
	// CachedHead keeps the chain head in process memory (valid while this
	// process was the last appender) and, at commit, moves the head row
	// with one conditional statement that also inserts the entries,
	// instead of SELECT … FOR UPDATE, INSERT and UPDATE. If another
	// process appended meanwhile, the statement changes nothing and the
	// transaction is retried from the locked head row. In-process
	// appenders take turns on a mutex held from the first AppendAudit to
	// the end of the transaction, so a transaction must not, after
	// AppendAudit, write rows another transaction may hold (the silo only
	// writes checkpoints then). Needs PostgreSQL (data-modifying CTEs).
	CachedHead bool
	// MigrateLock, if set, is run first in the migration transaction to
	// serialize concurrent migrations (PostgreSQL: an advisory lock).
	MigrateLock string
}

// Store is a phisilo.Backend over a *sql.DB.
type Store struct {
	DB    *sql.DB
	D     Dialect
	q     map[string]string
	stmts map[string]*sql.Stmt
	// headMu (a one-slot semaphore) is held by the transaction appending
	// audit entries under CachedHead; head is guarded by it.
	headMu chan struct{}
	head   cachedHead
}

type cachedHead struct {
	ok   bool
	seq  uint64
	hash []byte
}

var ph = regexp.MustCompile(`\$\d+`)

// New prepares the query texts; call Migrate once.
func New(db *sql.DB, d Dialect) *Store {
	s := &Store{DB: db, D: d, q: map[string]string{}, headMu: make(chan struct{}, 1)}
	for k, v := range queries {
		v = regexp.MustCompile(`\bT_`).ReplaceAllString(v, d.Prefix)
		if d.Rebind {
			v = ph.ReplaceAllString(v, "?")
		}
		s.q[k] = v
	}
	return s
}

var queries = map[string]string{
	"record.get":    `SELECT schema_version, ciphertext, updated FROM T_records WHERE tenant = $1 AND patient = $2`,
	"record.key":    `SELECT r.schema_version, r.ciphertext, r.updated, k.kek_version, k.wrapped FROM T_records r JOIN T_keys k ON k.tenant = r.tenant AND k.patient = r.patient WHERE r.tenant = $1 AND r.patient = $2`,
	"record.put":    `INSERT INTO T_records (tenant, patient, schema_version, ciphertext, updated) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, patient) DO UPDATE SET schema_version = excluded.schema_version, ciphertext = excluded.ciphertext, updated = excluded.updated`,
	"record.del":    `DELETE FROM T_records WHERE tenant = $1 AND patient = $2`,
	"key.get":       `SELECT kek_version, wrapped FROM T_keys WHERE tenant = $1 AND patient = $2`,
	"key.put":       `INSERT INTO T_keys (tenant, patient, kek_version, wrapped) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, patient) DO UPDATE SET kek_version = excluded.kek_version, wrapped = excluded.wrapped`,
	"key.del":       `DELETE FROM T_keys WHERE tenant = $1 AND patient = $2`,
	"key.below":     `SELECT tenant, patient, kek_version, wrapped FROM T_keys WHERE kek_version < $1 ORDER BY kek_version LIMIT $2`,
	"grant.list":    `SELECT body FROM T_grants WHERE tenant = $1 AND patient = $2 ORDER BY id`,
	"grant.put":     `INSERT INTO T_grants (tenant, id, patient, body, grantee) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, id) DO UPDATE SET body = excluded.body, grantee = excluded.grantee`,
	"grant.to":      `SELECT body FROM T_grants WHERE tenant = $1 AND grantee = $2 ORDER BY id`,
	"patient.list":  `SELECT patient FROM T_keys WHERE tenant = $1 AND patient > $2 ORDER BY patient LIMIT $3`,
	"grant.del":     `DELETE FROM T_grants WHERE tenant = $1 AND patient = $2`,
	"account.get":   `SELECT role, patient, password_hash, disabled, created FROM T_accounts WHERE tenant = $1 AND user_id = $2`,
	"account.put":   `INSERT INTO T_accounts (tenant, user_id, role, patient, password_hash, disabled, created) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, user_id) DO UPDATE SET role = excluded.role, patient = excluded.patient, password_hash = excluded.password_hash, disabled = excluded.disabled`,
	"account.del":   `DELETE FROM T_accounts WHERE tenant = $1 AND user_id = $2`,
	"account.list":  `SELECT user_id, role, patient, password_hash, disabled, created FROM T_accounts WHERE tenant = $1 AND user_id > $2 ORDER BY user_id LIMIT $3`,
	"session.get":   `SELECT tenant, user_id, purpose, created, last_seen FROM T_sessions WHERE token_hash = $1`,
	"session.put":   `INSERT INTO T_sessions (token_hash, tenant, user_id, purpose, created, last_seen) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO UPDATE SET last_seen = excluded.last_seen`,
	"session.del":   `DELETE FROM T_sessions WHERE token_hash = $1`,
	"audit.head":    `SELECT seq, hash FROM T_audit_head WHERE id = 1`,
	"audit.last":    `SELECT seq, hash FROM T_audit ORDER BY seq DESC LIMIT 1`,
	"audit.ins":     `INSERT INTO T_audit (seq, prev, hash, body) VALUES ($1, $2, $3, $4)`,
	"audit.sethead": `UPDATE T_audit_head SET seq = $1, hash = $2 WHERE id = 1`,
	"audit.list":    `SELECT seq, prev, hash, body FROM T_audit WHERE seq > $1 ORDER BY seq LIMIT $2`,
	"cp.put":        `INSERT INTO T_checkpoints (seq, jws) VALUES ($1, $2)`,
	"cp.list":       `SELECT seq, jws FROM T_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2`,
}

// Schema returns the DDL statements.
func (s *Store) Schema() []string {
	b, i, p := s.D.Blob, s.D.Int, s.D.Prefix
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + p + `records (tenant TEXT NOT NULL, patient ` + b + ` NOT NULL, schema_version ` + i + ` NOT NULL, ciphertext ` + b + ` NOT NULL, updated ` + i + ` NOT NULL, PRIMARY KEY (tenant, patient))`,
		`CREATE TABLE IF NOT EXISTS ` + p + `keys (tenant TEXT NOT NULL, patient ` + b + ` NOT NULL, kek_version ` + i + ` NOT NULL, wrapped ` + b + ` NOT NULL, PRIMARY KEY (tenant, patient))`,
		`CREATE INDEX IF NOT EXISTS ` + p + `keys_version ON ` + p + `keys (kek_version)`,
		`CREATE TABLE IF NOT EXISTS ` + p + `grants (tenant TEXT NOT NULL, id TEXT NOT NULL, patient ` + b + ` NOT NULL, body ` + b + ` NOT NULL, grantee TEXT NOT NULL DEFAULT '', PRIMARY KEY (tenant, id))`,
		`CREATE INDEX IF NOT EXISTS ` + p + `grants_patient ON ` + p + `grants (tenant, patient)`,
		`CREATE TABLE IF NOT EXISTS ` + p + `accounts (tenant TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL, patient ` + b + ` NOT NULL, password_hash TEXT NOT NULL, disabled ` + i + ` NOT NULL, created ` + i + ` NOT NULL, PRIMARY KEY (tenant, user_id))`,
		`CREATE TABLE IF NOT EXISTS ` + p + `sessions (token_hash ` + b + ` PRIMARY KEY, tenant TEXT NOT NULL, user_id TEXT NOT NULL, purpose TEXT NOT NULL, created ` + i + ` NOT NULL, last_seen ` + i + ` NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS ` + p + `audit (seq ` + i + ` PRIMARY KEY, prev ` + b + ` NOT NULL, hash ` + b + ` NOT NULL, body ` + b + ` NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS ` + p + `audit_head (id ` + i + ` PRIMARY KEY, seq ` + i + ` NOT NULL, hash ` + b + ` NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS ` + p + `checkpoints (seq ` + i + ` PRIMARY KEY, jws TEXT NOT NULL)`,
	}
}

// Migrate creates the tables and the audit head row in one transaction.
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("phisilo: %s: migrate: %w", s.D.Name, err)
	}
	defer tx.Rollback()
	stmts := s.Schema()
	if s.D.MigrateLock != "" {
		stmts = append([]string{s.D.MigrateLock}, stmts...)
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("phisilo: %s: migrate: %w", s.D.Name, err)
		}
	}
	if err := s.addGrantee(ctx, tx); err != nil {
		return fmt.Errorf("phisilo: %s: migrate: %w", s.D.Name, err)
	}
	q := `INSERT INTO ` + s.D.Prefix + `audit_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING`
	if s.D.Rebind {
		q = ph.ReplaceAllString(q, "?")
	}
	if _, err := tx.ExecContext(ctx, q, phisilo.GenesisHash()); err != nil {
		return fmt.Errorf("phisilo: %s: migrate: %w", s.D.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("phisilo: %s: migrate: %w", s.D.Name, err)
	}
	if s.D.Prepare {
		s.stmts = map[string]*sql.Stmt{}
		for name, text := range s.q {
			if name == "audit.head" {
				text += s.D.LockHead
			}
			st, err := s.DB.PrepareContext(ctx, text)
			if err != nil {
				return fmt.Errorf("phisilo: %s: prepare %s: %w", s.D.Name, name, err)
			}
			s.stmts[name] = st
		}
	}
	return nil
}

// addGrantee adds the grantee column (and its index) to a grants table
// created before it existed, filling it from the stored grant bodies.
func (s *Store) addGrantee(ctx context.Context, tx *sql.Tx) error {
	table := s.D.Prefix + "grants"
	hq := s.D.HasColumn
	if s.D.Rebind {
		hq = ph.ReplaceAllString(hq, "?")
	}
	var n int
	if err := tx.QueryRowContext(ctx, hq, table, "grantee").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN grantee TEXT NOT NULL DEFAULT ''`); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT tenant, id, body FROM `+table)
		if err != nil {
			return err
		}
		type fix struct{ tenant, id, grantee string }
		var fixes []fix
		for rows.Next() {
			var f fix
			var body []byte
			if err := rows.Scan(&f.tenant, &f.id, &body); err != nil {
				rows.Close()
				return err
			}
			var g phisilo.Grant
			if err := json.Unmarshal(body, &g); err != nil {
				rows.Close()
				return fmt.Errorf("stored grant: %w", err)
			}
			f.grantee = g.Grantee
			fixes = append(fixes, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		uq := `UPDATE ` + table + ` SET grantee = $1 WHERE tenant = $2 AND id = $3`
		if s.D.Rebind {
			uq = ph.ReplaceAllString(uq, "?")
		}
		for _, f := range fixes {
			if _, err := tx.ExecContext(ctx, uq, f.grantee, f.tenant, f.id); err != nil {
				return err
			}
		}
	}
	_, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS `+table+`_grantee ON `+table+` (tenant, grantee)`)
	return err
}

// CommitLanes implements phisilo.CommitLaner.
func (s *Store) CommitLanes() int { return max(s.D.Lanes, 1) }

// Update implements phisilo.Backend. With a cached head (CachedHead),
// fn may run a second time if another process moved the chain head.
func (s *Store) Update(ctx context.Context, fn func(phisilo.Tx) error) error {
	err := s.update(ctx, fn, false)
	if errors.Is(err, errHeadMoved) {
		// Retry once from the locked head row, which cannot be stale.
		err = s.update(ctx, fn, true)
	}
	return err
}

// errHeadMoved: the cached chain head was stale (another process
// appended); the transaction was rolled back and is retried.
var errHeadMoved = errors.New("phisilo: audit head moved")

func (s *Store) update(ctx context.Context, fn func(phisilo.Tx) error, lockedHead bool) (err error) {
	tx, err := s.DB.BeginTx(ctx, s.D.TxOptions)
	if err != nil {
		return s.wrap("begin", err)
	}
	t := &txn{s: s, tx: tx, lockedHead: lockedHead}
	defer func() {
		if t.holdsHead {
			if err == nil && t.headRead {
				s.head = cachedHead{ok: true, seq: t.seq, hash: t.hash}
			} else if err != nil {
				s.head = cachedHead{}
			}
			<-s.headMu
		}
	}()
	if err := fn(t); err != nil {
		t.done = true
		_ = tx.Rollback()
		return err
	}
	if err := t.flushAudit(ctx); err != nil {
		t.done = true
		_ = tx.Rollback()
		return err
	}
	t.done = true
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("commit", err)
	}
	return nil
}

// wrap names the engine and operation. Driver errors carry SQL state and
// constraint names, never bound values, so they are safe to log.
func (s *Store) wrap(op string, err error) error {
	return fmt.Errorf("phisilo: %s: %s: %w", s.D.Name, op, err)
}

// Audit implements phisilo.Backend.
func (s *Store) Audit(ctx context.Context, after uint64, limit int) ([]phisilo.AuditEntry, error) {
	rows, err := s.DB.QueryContext(ctx, s.q["audit.list"], int64(after), limit)
	if err != nil {
		return nil, s.wrap("audit", err)
	}
	defer rows.Close()
	var out []phisilo.AuditEntry
	for rows.Next() {
		var e phisilo.AuditEntry
		var seq int64
		if err := rows.Scan(&seq, &e.Prev, &e.Hash, &e.Body); err != nil {
			return nil, s.wrap("audit", err)
		}
		e.Seq = uint64(seq)
		out = append(out, e)
	}
	return out, s.wrapNil("audit", rows.Err())
}

// Checkpoints implements phisilo.Backend.
func (s *Store) Checkpoints(ctx context.Context, after uint64, limit int) ([]phisilo.Checkpoint, error) {
	rows, err := s.DB.QueryContext(ctx, s.q["cp.list"], int64(after), limit)
	if err != nil {
		return nil, s.wrap("checkpoints", err)
	}
	defer rows.Close()
	var out []phisilo.Checkpoint
	for rows.Next() {
		var c phisilo.Checkpoint
		var seq int64
		if err := rows.Scan(&seq, &c.JWS); err != nil {
			return nil, s.wrap("checkpoints", err)
		}
		c.Seq = uint64(seq)
		out = append(out, c)
	}
	return out, s.wrapNil("checkpoints", rows.Err())
}

func (s *Store) wrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.wrap(op, err)
}

type txn struct {
	s    *Store
	tx   *sql.Tx
	done bool
	// The chain head is read (and on PostgreSQL locked) at the first
	// AppendAudit and kept here; appended entries are buffered and written
	// with one multi-row INSERT (and one head update) just before commit,
	// so a batch of N audited calls costs one head round trip, not N.
	headRead   bool
	holdsHead  bool // holds s.headMu (CachedHead)
	lockedHead bool // do not use the cached head
	fast       bool // head taken from the cache: the head row is not locked yet
	seq        uint64
	hash       []byte
	pending    []phisilo.AuditEntry
}

func (t *txn) stmt(ctx context.Context, name string) *sql.Stmt {
	if st, ok := t.s.stmts[name]; ok {
		return t.tx.StmtContext(ctx, st)
	}
	return nil
}

func (t *txn) exec(ctx context.Context, name string, args ...any) (sql.Result, error) {
	if t.done {
		return nil, phisilo.ErrClosed
	}
	var r sql.Result
	var err error
	if st := t.stmt(ctx, name); st != nil {
		r, err = st.ExecContext(ctx, args...)
	} else {
		r, err = t.tx.ExecContext(ctx, t.s.q[name], args...)
	}
	if err != nil {
		return nil, t.s.wrap(name, err)
	}
	return r, nil
}

func (t *txn) row(ctx context.Context, name string, args ...any) *sql.Row {
	if st := t.stmt(ctx, name); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	q := t.s.q[name]
	if name == "audit.head" {
		q += t.s.D.LockHead
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *txn) scanErr(name string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return phisilo.ErrNotFound
	}
	return t.s.wrap(name, err)
}

func (t *txn) deleted(name string, r sql.Result) error {
	n, err := r.RowsAffected()
	if err != nil {
		return t.s.wrap(name, err)
	}
	if n == 0 {
		return phisilo.ErrNotFound
	}
	return nil
}

func nanos(t time.Time) int64        { return t.UnixNano() }
func fromNanos(n int64) time.Time    { return time.Unix(0, n).UTC() }
func pat(p phisilo.PatientID) []byte { return p[:] }

func toPatient(b []byte) (phisilo.PatientID, error) {
	var p phisilo.PatientID
	if len(b) != 16 {
		return p, fmt.Errorf("phisilo: stored patient id length")
	}
	copy(p[:], b)
	return p, nil
}

func (t *txn) Record(ctx context.Context, tenant string, p phisilo.PatientID) (phisilo.SealedRecord, error) {
	if t.done {
		return phisilo.SealedRecord{}, phisilo.ErrClosed
	}
	r := phisilo.SealedRecord{Tenant: tenant, Patient: p}
	var schema, upd int64
	if err := t.row(ctx, "record.get", tenant, pat(p)).Scan(&schema, &r.Ciphertext, &upd); err != nil {
		return r, t.scanErr("record.get", err)
	}
	r.Schema, r.Updated = uint16(schema), fromNanos(upd)
	return r, nil
}

// RecordAndKey implements phisilo.RecordKeyer.
func (t *txn) RecordAndKey(ctx context.Context, tenant string, p phisilo.PatientID) (phisilo.SealedRecord, phisilo.WrappedKey, error) {
	r := phisilo.SealedRecord{Tenant: tenant, Patient: p}
	k := phisilo.WrappedKey{Tenant: tenant, Patient: p}
	if t.done {
		return r, k, phisilo.ErrClosed
	}
	var schema, upd, v int64
	if err := t.row(ctx, "record.key", tenant, pat(p)).Scan(&schema, &r.Ciphertext, &upd, &v, &k.Wrapped); err != nil {
		return r, k, t.scanErr("record.key", err)
	}
	r.Schema, r.Updated, k.KEKVersion = uint16(schema), fromNanos(upd), uint32(v)
	return r, k, nil
}

func (t *txn) PutRecord(ctx context.Context, r phisilo.SealedRecord) error {
	_, err := t.exec(ctx, "record.put", r.Tenant, pat(r.Patient), int64(r.Schema), r.Ciphertext, nanos(r.Updated))
	return err
}

func (t *txn) DeleteRecord(ctx context.Context, tenant string, p phisilo.PatientID) error {
	r, err := t.exec(ctx, "record.del", tenant, pat(p))
	if err != nil {
		return err
	}
	return t.deleted("record.del", r)
}

func (t *txn) Key(ctx context.Context, tenant string, p phisilo.PatientID) (phisilo.WrappedKey, error) {
	if t.done {
		return phisilo.WrappedKey{}, phisilo.ErrClosed
	}
	k := phisilo.WrappedKey{Tenant: tenant, Patient: p}
	var v int64
	if err := t.row(ctx, "key.get", tenant, pat(p)).Scan(&v, &k.Wrapped); err != nil {
		return k, t.scanErr("key.get", err)
	}
	k.KEKVersion = uint32(v)
	return k, nil
}

func (t *txn) PutKey(ctx context.Context, k phisilo.WrappedKey) error {
	_, err := t.exec(ctx, "key.put", k.Tenant, pat(k.Patient), int64(k.KEKVersion), k.Wrapped)
	return err
}

func (t *txn) DeleteKey(ctx context.Context, tenant string, p phisilo.PatientID) error {
	r, err := t.exec(ctx, "key.del", tenant, pat(p))
	if err != nil {
		return err
	}
	return t.deleted("key.del", r)
}

func (t *txn) KeysBelow(ctx context.Context, version uint32, limit int) ([]phisilo.WrappedKey, error) {
	if t.done {
		return nil, phisilo.ErrClosed
	}
	rows, err := t.tx.QueryContext(ctx, t.s.q["key.below"], int64(version), limit)
	if err != nil {
		return nil, t.s.wrap("key.below", err)
	}
	defer rows.Close()
	var out []phisilo.WrappedKey
	for rows.Next() {
		var k phisilo.WrappedKey
		var pb []byte
		var v int64
		if err := rows.Scan(&k.Tenant, &pb, &v, &k.Wrapped); err != nil {
			return nil, t.s.wrap("key.below", err)
		}
		if k.Patient, err = toPatient(pb); err != nil {
			return nil, err
		}
		k.KEKVersion = uint32(v)
		out = append(out, k)
	}
	return out, t.s.wrapNil("key.below", rows.Err())
}

func (t *txn) Grants(ctx context.Context, tenant string, p phisilo.PatientID) ([]phisilo.Grant, error) {
	if t.done {
		return nil, phisilo.ErrClosed
	}
	rows, err := t.tx.QueryContext(ctx, t.s.q["grant.list"], tenant, pat(p))
	if err != nil {
		return nil, t.s.wrap("grant.list", err)
	}
	defer rows.Close()
	var out []phisilo.Grant
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, t.s.wrap("grant.list", err)
		}
		var g phisilo.Grant
		if err := json.Unmarshal(body, &g); err != nil {
			return nil, fmt.Errorf("phisilo: stored grant: %w", err)
		}
		out = append(out, g)
	}
	return out, t.s.wrapNil("grant.list", rows.Err())
}

func (t *txn) PutGrant(ctx context.Context, tenant string, g phisilo.Grant) error {
	body, err := json.Marshal(g)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "grant.put", tenant, g.ID, pat(g.Patient), body, g.Grantee)
	return err
}

func (t *txn) GrantsTo(ctx context.Context, tenant, grantee string) ([]phisilo.Grant, error) {
	if t.done {
		return nil, phisilo.ErrClosed
	}
	rows, err := t.tx.QueryContext(ctx, t.s.q["grant.to"], tenant, grantee)
	if err != nil {
		return nil, t.s.wrap("grant.to", err)
	}
	defer rows.Close()
	var out []phisilo.Grant
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, t.s.wrap("grant.to", err)
		}
		var g phisilo.Grant
		if err := json.Unmarshal(body, &g); err != nil {
			return nil, fmt.Errorf("phisilo: stored grant: %w", err)
		}
		out = append(out, g)
	}
	return out, t.s.wrapNil("grant.to", rows.Err())
}

func (t *txn) PatientIDs(ctx context.Context, tenant string, after phisilo.PatientID, limit int) ([]phisilo.PatientID, error) {
	if t.done {
		return nil, phisilo.ErrClosed
	}
	rows, err := t.tx.QueryContext(ctx, t.s.q["patient.list"], tenant, pat(after), limit)
	if err != nil {
		return nil, t.s.wrap("patient.list", err)
	}
	defer rows.Close()
	var out []phisilo.PatientID
	for rows.Next() {
		var pb []byte
		if err := rows.Scan(&pb); err != nil {
			return nil, t.s.wrap("patient.list", err)
		}
		p, err := toPatient(pb)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, t.s.wrapNil("patient.list", rows.Err())
}

func (t *txn) DeleteGrants(ctx context.Context, tenant string, p phisilo.PatientID) error {
	_, err := t.exec(ctx, "grant.del", tenant, pat(p))
	return err
}

func (t *txn) Account(ctx context.Context, tenant, user string) (phisilo.Account, error) {
	if t.done {
		return phisilo.Account{}, phisilo.ErrClosed
	}
	a := phisilo.Account{Tenant: tenant, UserID: user}
	var role string
	var pb []byte
	var disabled, created int64
	if err := t.row(ctx, "account.get", tenant, user).Scan(&role, &pb, &a.PasswordHash, &disabled, &created); err != nil {
		return a, t.scanErr("account.get", err)
	}
	a.Role, a.Disabled, a.Created = phisilo.Role(role), disabled != 0, fromNanos(created)
	if len(pb) == 16 {
		copy(a.Patient[:], pb)
	}
	return a, nil
}

func (t *txn) PutAccount(ctx context.Context, a phisilo.Account) error {
	var d int64
	if a.Disabled {
		d = 1
	}
	_, err := t.exec(ctx, "account.put", a.Tenant, a.UserID, string(a.Role), pat(a.Patient), a.PasswordHash, d, nanos(a.Created))
	return err
}

func (t *txn) DeleteAccount(ctx context.Context, tenant, user string) error {
	r, err := t.exec(ctx, "account.del", tenant, user)
	if err != nil {
		return err
	}
	return t.deleted("account.del", r)
}

func (t *txn) Accounts(ctx context.Context, tenant, after string, limit int) ([]phisilo.Account, error) {
	if t.done {
		return nil, phisilo.ErrClosed
	}
	rows, err := t.tx.QueryContext(ctx, t.s.q["account.list"], tenant, after, limit)
	if err != nil {
		return nil, t.s.wrap("account.list", err)
	}
	defer rows.Close()
	var out []phisilo.Account
	for rows.Next() {
		a := phisilo.Account{Tenant: tenant}
		var role string
		var pb []byte
		var disabled, created int64
		if err := rows.Scan(&a.UserID, &role, &pb, &a.PasswordHash, &disabled, &created); err != nil {
			return nil, t.s.wrap("account.list", err)
		}
		a.Role, a.Disabled, a.Created = phisilo.Role(role), disabled != 0, fromNanos(created)
		if len(pb) == 16 {
			copy(a.Patient[:], pb)
		}
		out = append(out, a)
	}
	return out, t.s.wrapNil("account.list", rows.Err())
}

func (t *txn) Session(ctx context.Context, h []byte) (phisilo.Session, error) {
	if t.done {
		return phisilo.Session{}, phisilo.ErrClosed
	}
	s := phisilo.Session{TokenHash: bytes.Clone(h)}
	var purpose string
	var created, seen int64
	if err := t.row(ctx, "session.get", h).Scan(&s.Tenant, &s.UserID, &purpose, &created, &seen); err != nil {
		return s, t.scanErr("session.get", err)
	}
	s.Purpose, s.Created, s.LastSeen = phisilo.Purpose(purpose), fromNanos(created), fromNanos(seen)
	return s, nil
}

func (t *txn) PutSession(ctx context.Context, s phisilo.Session) error {
	_, err := t.exec(ctx, "session.put", s.TokenHash, s.Tenant, s.UserID, string(s.Purpose), nanos(s.Created), nanos(s.LastSeen))
	return err
}

func (t *txn) DeleteSession(ctx context.Context, h []byte) error {
	r, err := t.exec(ctx, "session.del", h)
	if err != nil {
		return err
	}
	return t.deleted("session.del", r)
}

func (t *txn) AppendAudit(ctx context.Context, body []byte) (phisilo.AuditEntry, error) {
	if t.done {
		return phisilo.AuditEntry{}, phisilo.ErrClosed
	}
	if !t.headRead && t.s.D.CachedHead && !t.holdsHead {
		select {
		case t.s.headMu <- struct{}{}:
			t.holdsHead = true
		case <-ctx.Done():
			return phisilo.AuditEntry{}, ctx.Err()
		}
		if h := t.s.head; h.ok && !t.lockedHead {
			t.headRead, t.fast, t.seq, t.hash = true, true, h.seq, h.hash
		}
	}
	if !t.headRead {
		var seq int64
		var prev []byte
		head := "audit.head"
		if t.s.D.LastRowHead {
			head = "audit.last"
		}
		if err := t.row(ctx, head).Scan(&seq, &prev); errors.Is(err, sql.ErrNoRows) && t.s.D.LastRowHead {
			seq, prev = 0, phisilo.GenesisHash()
		} else if err != nil {
			return phisilo.AuditEntry{}, t.s.wrap(head, err)
		}
		t.headRead, t.seq, t.hash = true, uint64(seq), prev
	}
	e := phisilo.AuditEntry{Seq: t.seq + 1, Prev: t.hash, Body: bytes.Clone(body)}
	e.Hash = phisilo.ChainHash(e.Prev, e.Seq, e.Body)
	t.seq, t.hash = e.Seq, e.Hash
	t.pending = append(t.pending, e)
	return phisilo.AuditEntry{Seq: e.Seq, Prev: bytes.Clone(e.Prev), Hash: bytes.Clone(e.Hash), Body: bytes.Clone(e.Body)}, nil
}

// flushFast moves the head row from the cached head to the last pending
// entry and inserts the entries, in one statement when they fit one
// chunk; errHeadMoved if the head row was not at the cached head.
func (t *txn) flushFast(ctx context.Context) error {
	first := t.pending[0]
	oldSeq := int64(first.Seq) - 1
	p := t.s.D.Prefix
	if len(t.pending) > auditChunk {
		r, err := t.tx.ExecContext(ctx, `UPDATE `+p+`audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3`, int64(t.seq), t.hash, oldSeq)
		if err != nil {
			return t.s.wrap("audit.sethead", err)
		}
		if n, err := r.RowsAffected(); err != nil || n != 1 {
			return errHeadMoved
		}
		t.fast = false
		return t.flushAudit(ctx)
	}
	var q strings.Builder
	q.WriteString(`WITH h AS (UPDATE ` + p + `audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 RETURNING id) INSERT INTO ` + p + `audit (seq, prev, hash, body) SELECT v.seq, v.prev, v.hash, v.body FROM (VALUES `)
	args := []any{int64(t.seq), t.hash, oldSeq}
	for i, e := range t.pending {
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&q, "($%d::%s, $%d::%s, $%d::%s, $%d::%s)", n+1, t.s.D.Int, n+2, t.s.D.Blob, n+3, t.s.D.Blob, n+4, t.s.D.Blob)
		args = append(args, int64(e.Seq), e.Prev, e.Hash, e.Body)
	}
	q.WriteString(`) AS v(seq, prev, hash, body) CROSS JOIN h`)
	r, err := t.tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return t.s.wrap("audit.ins", err)
	}
	if n, err := r.RowsAffected(); err != nil || n != int64(len(t.pending)) {
		return errHeadMoved
	}
	t.pending = nil
	return nil
}

// auditChunk bounds the rows of one INSERT (4 parameters each).
const auditChunk = 100

// flushAudit writes the buffered audit entries and the new head.
func (t *txn) flushAudit(ctx context.Context) error {
	if len(t.pending) == 0 {
		return nil
	}
	if t.fast {
		return t.flushFast(ctx)
	}
	for rest := t.pending; len(rest) > 0; {
		n := min(len(rest), auditChunk)
		chunk := rest[:n]
		rest = rest[n:]
		if len(chunk) == 1 {
			e := chunk[0]
			if _, err := t.exec(ctx, "audit.ins", int64(e.Seq), e.Prev, e.Hash, e.Body); err != nil {
				return err
			}
			continue
		}
		var q strings.Builder
		q.WriteString("INSERT INTO " + t.s.D.Prefix + "audit (seq, prev, hash, body) VALUES ")
		args := make([]any, 0, 4*len(chunk))
		for i, e := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			if t.s.D.Rebind {
				q.WriteString("(?, ?, ?, ?)")
			} else {
				fmt.Fprintf(&q, "($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
			}
			args = append(args, int64(e.Seq), e.Prev, e.Hash, e.Body)
		}
		if _, err := t.tx.ExecContext(ctx, q.String(), args...); err != nil {
			return t.s.wrap("audit.ins", err)
		}
	}
	t.pending = nil
	if !t.s.D.LastRowHead {
		if _, err := t.exec(ctx, "audit.sethead", int64(t.seq), t.hash); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) PutCheckpoint(ctx context.Context, c phisilo.Checkpoint) error {
	_, err := t.exec(ctx, "cp.put", int64(c.Seq), c.JWS)
	return err
}

var _ phisilo.Backend = (*Store)(nil)

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return s.DB.Close()
}
