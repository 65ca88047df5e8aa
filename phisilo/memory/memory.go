// Package memory is an in-memory [phisilo.Backend] for tests and examples.
// Nothing persists past the process. Transactions are serialized by one
// mutex and rolled back by an undo log, so it behaves like the SQL
// backends in the phisilotest conformance suite.
package memory

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/openiomt/sdk/phisilo"
)

type pk struct {
	tenant  string
	patient phisilo.PatientID
}

type ak struct{ tenant, user string }

// Backend is an in-memory backend. The zero value is not usable; use New.
type Backend struct {
	mu       sync.Mutex
	closed   bool
	records  map[pk]phisilo.SealedRecord
	keys     map[pk]phisilo.WrappedKey
	grants   map[pk][]phisilo.Grant
	accounts map[ak]phisilo.Account
	sessions map[string]phisilo.Session
	audit    []phisilo.AuditEntry
	cps      []phisilo.Checkpoint
}

var _ phisilo.Backend = (*Backend)(nil)

// New returns an empty backend.
func New() *Backend {
	return &Backend{
		records: map[pk]phisilo.SealedRecord{}, keys: map[pk]phisilo.WrappedKey{},
		grants: map[pk][]phisilo.Grant{}, accounts: map[ak]phisilo.Account{}, sessions: map[string]phisilo.Session{},
	}
}

// Update implements [phisilo.Backend].
func (b *Backend) Update(ctx context.Context, fn func(phisilo.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return phisilo.ErrClosed
	}
	t := &tx{b: b}
	err := fn(t)
	if err == nil {
		err = ctx.Err()
	}
	t.done = true
	if err != nil {
		for i := len(t.undo) - 1; i >= 0; i-- {
			t.undo[i]()
		}
		return err
	}
	return nil
}

// Audit implements [phisilo.Backend].
func (b *Backend) Audit(ctx context.Context, after uint64, limit int) ([]phisilo.AuditEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, phisilo.ErrClosed
	}
	var out []phisilo.AuditEntry
	for _, e := range b.audit {
		if e.Seq > after && len(out) < limit {
			out = append(out, cloneEntry(e))
		}
	}
	return out, nil
}

// Checkpoints implements [phisilo.Backend].
func (b *Backend) Checkpoints(ctx context.Context, after uint64, limit int) ([]phisilo.Checkpoint, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, phisilo.ErrClosed
	}
	var out []phisilo.Checkpoint
	for _, c := range b.cps {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// Close implements [phisilo.Backend]. It wipes the stored data.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, k := range b.keys {
		clear(k.Wrapped)
	}
	b.records, b.keys = nil, nil
	return nil
}

// TamperAudit lets tests edit the stored audit log in place, as an attacker
// with database access would.
func (b *Backend) TamperAudit(fn func(entries []phisilo.AuditEntry) []phisilo.AuditEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.audit = fn(b.audit)
}

func cloneEntry(e phisilo.AuditEntry) phisilo.AuditEntry {
	return phisilo.AuditEntry{Seq: e.Seq, Prev: bytes.Clone(e.Prev), Hash: bytes.Clone(e.Hash), Body: bytes.Clone(e.Body)}
}

type tx struct {
	b    *Backend
	undo []func()
	done bool
}

func (t *tx) check(ctx context.Context) error {
	if t.done {
		return phisilo.ErrClosed
	}
	return ctx.Err()
}

func (t *tx) Record(ctx context.Context, tenant string, p phisilo.PatientID) (phisilo.SealedRecord, error) {
	if err := t.check(ctx); err != nil {
		return phisilo.SealedRecord{}, err
	}
	r, ok := t.b.records[pk{tenant, p}]
	if !ok {
		return r, phisilo.ErrNotFound
	}
	r.Ciphertext = bytes.Clone(r.Ciphertext)
	return r, nil
}

func (t *tx) PutRecord(ctx context.Context, r phisilo.SealedRecord) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := pk{r.Tenant, r.Patient}
	r.Ciphertext = bytes.Clone(r.Ciphertext)
	put(t, t.b.records, k, r)
	return nil
}

func (t *tx) DeleteRecord(ctx context.Context, tenant string, p phisilo.PatientID) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := pk{tenant, p}
	if !remove(t, t.b.records, k) {
		return phisilo.ErrNotFound
	}
	return nil
}

func (t *tx) Key(ctx context.Context, tenant string, p phisilo.PatientID) (phisilo.WrappedKey, error) {
	if err := t.check(ctx); err != nil {
		return phisilo.WrappedKey{}, err
	}
	k, ok := t.b.keys[pk{tenant, p}]
	if !ok {
		return k, phisilo.ErrNotFound
	}
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k, nil
}

func (t *tx) PutKey(ctx context.Context, w phisilo.WrappedKey) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := pk{w.Tenant, w.Patient}
	w.Wrapped = bytes.Clone(w.Wrapped)
	put(t, t.b.keys, k, w)
	return nil
}

func (t *tx) DeleteKey(ctx context.Context, tenant string, p phisilo.PatientID) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := pk{tenant, p}
	old, had := t.b.keys[k]
	if !had {
		return phisilo.ErrNotFound
	}
	delete(t.b.keys, k)
	// Keep the bytes for a rollback; the undo log dies with the
	// transaction. On commit the only copy is dropped.
	t.undo = append(t.undo, func() { t.b.keys[k] = old })
	return nil
}

func (t *tx) KeysBelow(ctx context.Context, version uint32, limit int) ([]phisilo.WrappedKey, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	var out []phisilo.WrappedKey
	for _, k := range t.b.keys {
		if k.KEKVersion < version && len(out) < limit {
			k.Wrapped = bytes.Clone(k.Wrapped)
			out = append(out, k)
		}
	}
	return out, nil
}

func (t *tx) Grants(ctx context.Context, tenant string, p phisilo.PatientID) ([]phisilo.Grant, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	gs := t.b.grants[pk{tenant, p}]
	out := make([]phisilo.Grant, len(gs))
	for i, g := range gs {
		g.Sections = slices.Clone(g.Sections)
		out[i] = g
	}
	return out, nil
}

func (t *tx) PutGrant(ctx context.Context, tenant string, g phisilo.Grant) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := pk{tenant, g.Patient}
	old := t.b.grants[k]
	t.undo = append(t.undo, func() { t.b.grants[k] = old })
	gs := slices.Clone(old)
	g.Sections = slices.Clone(g.Sections)
	for i := range gs {
		if gs[i].ID == g.ID {
			gs[i] = g
			t.b.grants[k] = gs
			return nil
		}
	}
	t.b.grants[k] = append(gs, g)
	return nil
}

func (t *tx) GrantsTo(ctx context.Context, tenant, grantee string) ([]phisilo.Grant, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	var out []phisilo.Grant
	for k, gs := range t.b.grants {
		if k.tenant != tenant {
			continue
		}
		for _, g := range gs {
			if g.Grantee == grantee {
				g.Sections = slices.Clone(g.Sections)
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, func(a, b phisilo.Grant) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (t *tx) PatientIDs(ctx context.Context, tenant string, after phisilo.PatientID, limit int) ([]phisilo.PatientID, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	var out []phisilo.PatientID
	for k := range t.b.keys {
		if k.tenant == tenant && bytes.Compare(k.patient[:], after[:]) > 0 {
			out = append(out, k.patient)
		}
	}
	slices.SortFunc(out, func(a, b phisilo.PatientID) int { return bytes.Compare(a[:], b[:]) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (t *tx) DeleteGrants(ctx context.Context, tenant string, p phisilo.PatientID) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := pk{tenant, p}
	old, had := t.b.grants[k]
	delete(t.b.grants, k)
	t.undo = append(t.undo, func() {
		if had {
			t.b.grants[k] = old
		}
	})
	return nil
}

func (t *tx) Account(ctx context.Context, tenant, user string) (phisilo.Account, error) {
	if err := t.check(ctx); err != nil {
		return phisilo.Account{}, err
	}
	a, ok := t.b.accounts[ak{tenant, user}]
	if !ok {
		return a, phisilo.ErrNotFound
	}
	return a, nil
}

func (t *tx) PutAccount(ctx context.Context, a phisilo.Account) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := ak{a.Tenant, a.UserID}
	put(t, t.b.accounts, k, a)
	return nil
}

func (t *tx) DeleteAccount(ctx context.Context, tenant, user string) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := ak{tenant, user}
	if !remove(t, t.b.accounts, k) {
		return phisilo.ErrNotFound
	}
	return nil
}

func (t *tx) Accounts(ctx context.Context, tenant, after string, limit int) ([]phisilo.Account, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	var out []phisilo.Account
	for k, a := range t.b.accounts {
		if k.tenant == tenant && k.user > after {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b phisilo.Account) int { return strings.Compare(a.UserID, b.UserID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (t *tx) Session(ctx context.Context, h []byte) (phisilo.Session, error) {
	if err := t.check(ctx); err != nil {
		return phisilo.Session{}, err
	}
	s, ok := t.b.sessions[string(h)]
	if !ok {
		return s, phisilo.ErrNotFound
	}
	s.TokenHash = bytes.Clone(s.TokenHash)
	return s, nil
}

func (t *tx) PutSession(ctx context.Context, s phisilo.Session) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := string(s.TokenHash)
	s.TokenHash = bytes.Clone(s.TokenHash)
	put(t, t.b.sessions, k, s)
	return nil
}

func (t *tx) DeleteSession(ctx context.Context, h []byte) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := string(h)
	if !remove(t, t.b.sessions, k) {
		return phisilo.ErrNotFound
	}
	return nil
}

func (t *tx) AppendAudit(ctx context.Context, body []byte) (phisilo.AuditEntry, error) {
	if err := t.check(ctx); err != nil {
		return phisilo.AuditEntry{}, err
	}
	prev, seq := phisilo.GenesisHash(), uint64(1)
	if n := len(t.b.audit); n > 0 {
		prev, seq = t.b.audit[n-1].Hash, t.b.audit[n-1].Seq+1
	}
	e := phisilo.AuditEntry{Seq: seq, Prev: bytes.Clone(prev), Hash: phisilo.ChainHash(prev, seq, body), Body: bytes.Clone(body)}
	n := len(t.b.audit)
	t.b.audit = append(t.b.audit, e)
	t.undo = append(t.undo, func() { t.b.audit = t.b.audit[:n] })
	return cloneEntry(e), nil
}

func (t *tx) PutCheckpoint(ctx context.Context, c phisilo.Checkpoint) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	n := len(t.b.cps)
	t.b.cps = append(t.b.cps, c)
	t.undo = append(t.undo, func() { t.b.cps = t.b.cps[:n] })
	return nil
}

// put sets m[k] = v inside transaction t and records how to undo it.
func put[K comparable, V any](t *tx, m map[K]V, k K, v V) {
	old, had := m[k]
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
	m[k] = v
}

// remove deletes m[k] inside transaction t and records how to undo it. It
// reports false, changing nothing, when k is absent.
func remove[K comparable, V any](t *tx, m map[K]V, k K) bool {
	old, had := m[k]
	if !had {
		return false
	}
	delete(m, k)
	t.undo = append(t.undo, func() { m[k] = old })
	return true
}
