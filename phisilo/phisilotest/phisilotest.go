// Package phisilotest is the conformance suite every [phisilo.Backend]
// runs, in the manner of testing/slogtest: a backend package calls [Run]
// from its tests with a [Harness] that makes fresh backends.
//
// The suite covers each Tx method's contract (insert, replace, not-found,
// isolation by tenant), rollback of every write (including the audit
// chain) when a transaction fails or its context is cancelled, the audit
// chain's hashes and paging, checkpoints, concurrent writers racing on the
// chain, durability across a reopen where the harness supports it, and a
// full Silo round trip.
package phisilotest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

// Harness makes backends for the suite.
type Harness struct {
	// New returns a fresh, empty backend. The suite closes it. Required.
	New func(t *testing.T) phisilo.Backend
	// Reopen closes b and opens the same storage again, as after a process
	// restart. Nil skips the durability cases.
	Reopen func(t *testing.T, b phisilo.Backend) phisilo.Backend
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Records", testRecords},
		{"Keys", testKeys},
		{"Grants", testGrants},
		{"PatientIDs", testPatientIDs},
		{"AccountsAndSessions", testAccounts},
		{"RollbackOnError", testRollback},
		{"RollbackOnCancel", testCancel},
		{"AuditChain", testAuditChain},
		{"Checkpoints", testCheckpoints},
		{"ConcurrentWriters", testConcurrent},
		{"Durability", testDurable},
		{"SiloRoundTrip", testSilo},
		{"BatchMemberFailure", testBatchFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, h) })
	}
}

func open(t *testing.T, h Harness) phisilo.Backend {
	t.Helper()
	b := h.New(t)
	t.Cleanup(func() { b.Close() })
	return b
}

func pid(t *testing.T) phisilo.PatientID {
	t.Helper()
	p, err := phisilo.NewPatientID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func update(t *testing.T, b phisilo.Backend, fn func(ctx context.Context, tx phisilo.Tx) error) {
	t.Helper()
	ctx := context.Background()
	must(t, b.Update(ctx, func(tx phisilo.Tx) error { return fn(ctx, tx) }))
}

func testRecords(t *testing.T, h Harness) {
	b := open(t, h)
	p := pid(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := phisilo.SealedRecord{Tenant: "t1", Patient: p, Schema: 1, Ciphertext: []byte{1, 2, 3}, Updated: now}
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		if _, err := tx.Record(ctx, "t1", p); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("missing record: got %v, want ErrNotFound", err)
		}
		if err := tx.PutRecord(ctx, r); err != nil {
			return err
		}
		r.Ciphertext = []byte{4, 5, 6, 7}
		return tx.PutRecord(ctx, r) // replace
	})
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		got, err := tx.Record(ctx, "t1", p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got.Ciphertext, []byte{4, 5, 6, 7}) || got.Schema != 1 || got.Patient != p || !got.Updated.Equal(now) {
			return fmt.Errorf("record round trip mismatch")
		}
		if _, err := tx.Record(ctx, "t2", p); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("other tenant: got %v, want ErrNotFound", err)
		}
		if err := tx.DeleteRecord(ctx, "t1", p); err != nil {
			return err
		}
		if err := tx.DeleteRecord(ctx, "t1", p); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("double delete: got %v, want ErrNotFound", err)
		}
		return nil
	})
	// The optional one-read RecordAndKey agrees with Record and Key.
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		rk, ok := tx.(phisilo.RecordKeyer)
		if !ok {
			return nil
		}
		q := pid(t)
		if _, _, err := rk.RecordAndKey(ctx, "t", q); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("RecordAndKey of a missing patient: %v", err)
		}
		if err := tx.PutRecord(ctx, phisilo.SealedRecord{Tenant: "t", Patient: q, Schema: 3, Ciphertext: []byte("ct")}); err != nil {
			return err
		}
		if _, _, err := rk.RecordAndKey(ctx, "t", q); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("RecordAndKey without a key: %v", err)
		}
		if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: q, KEKVersion: 7, Wrapped: []byte("wk")}); err != nil {
			return err
		}
		r, k, err := rk.RecordAndKey(ctx, "t", q)
		if err != nil || r.Schema != 3 || string(r.Ciphertext) != "ct" || k.KEKVersion != 7 || string(k.Wrapped) != "wk" {
			return fmt.Errorf("RecordAndKey round trip mismatch: %v", err)
		}
		if _, _, err := rk.RecordAndKey(ctx, "other", q); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("RecordAndKey leaks across tenants: %v", err)
		}
		return nil
	})
}

func testKeys(t *testing.T, h Harness) {
	b := open(t, h)
	p1, p2 := pid(t), pid(t)
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		for i, p := range []phisilo.PatientID{p1, p2} {
			if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: p, KEKVersion: uint32(i + 1), Wrapped: []byte{byte(i)}}); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		ks, err := tx.KeysBelow(ctx, 2, 10)
		if err != nil {
			return err
		}
		if len(ks) != 1 || ks[0].Patient != p1 || ks[0].KEKVersion != 1 {
			return fmt.Errorf("KeysBelow(2) = %d keys, want p1 only", len(ks))
		}
		if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: p1, KEKVersion: 3, Wrapped: []byte{9}}); err != nil {
			return err
		}
		if ks, err := tx.KeysBelow(ctx, 3, 10); err != nil || len(ks) != 1 || ks[0].Patient != p2 {
			return fmt.Errorf("KeysBelow(3) after rewrap: %v, %d keys", err, len(ks))
		}
		k, err := tx.Key(ctx, "t", p1)
		if err != nil || !bytes.Equal(k.Wrapped, []byte{9}) {
			return fmt.Errorf("key replace: %v", err)
		}
		if err := tx.DeleteKey(ctx, "t", p1); err != nil {
			return err
		}
		if _, err := tx.Key(ctx, "t", p1); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("deleted key: got %v", err)
		}
		return nil
	})
}

func testGrants(t *testing.T, h Harness) {
	b := open(t, h)
	p := pid(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	g := phisilo.Grant{ID: "g1", Patient: p, Grantee: "dr", GranteeRole: phisilo.RoleClinician,
		Sections: []phisilo.Section{phisilo.SectionContact}, NotBefore: now, Expires: now.Add(time.Hour), Created: now}
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		if err := tx.PutGrant(ctx, "t", g); err != nil {
			return err
		}
		g2 := g
		g2.ID = "g2"
		return tx.PutGrant(ctx, "t", g2)
	})
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		g.Revoked = now.Add(time.Minute)
		if err := tx.PutGrant(ctx, "t", g); err != nil {
			return err
		}
		gs, err := tx.Grants(ctx, "t", p)
		if err != nil {
			return err
		}
		if len(gs) != 2 {
			return fmt.Errorf("got %d grants, want 2", len(gs))
		}
		for _, x := range gs {
			if x.ID == "g1" && (!x.Revoked.Equal(g.Revoked) || len(x.Sections) != 1 || x.Sections[0] != phisilo.SectionContact || !x.Expires.Equal(g.Expires)) {
				return fmt.Errorf("grant round trip mismatch")
			}
		}
		if gs, _ := tx.Grants(ctx, "other", p); len(gs) != 0 {
			return fmt.Errorf("grants leak across tenants")
		}
		// GrantsTo: by grantee, any patient, ordered by ID, revoked included.
		p2 := pid(t)
		g3 := g
		g3.ID, g3.Patient, g3.Revoked = "g0", p2, time.Time{}
		if err := tx.PutGrant(ctx, "t", g3); err != nil {
			return err
		}
		other := g
		other.ID, other.Grantee = "g9", "nurse"
		if err := tx.PutGrant(ctx, "t", other); err != nil {
			return err
		}
		to, err := tx.GrantsTo(ctx, "t", "dr")
		if err != nil {
			return err
		}
		if len(to) != 3 || to[0].ID != "g0" || to[0].Patient != p2 || to[1].ID != "g1" || to[1].Revoked.IsZero() || to[2].ID != "g2" {
			return fmt.Errorf("GrantsTo(dr) = %d grants, wrong set or order", len(to))
		}
		if to, _ := tx.GrantsTo(ctx, "other", "dr"); len(to) != 0 {
			return fmt.Errorf("GrantsTo leaks across tenants")
		}
		if err := tx.DeleteGrants(ctx, "t", p); err != nil {
			return err
		}
		if gs, _ := tx.Grants(ctx, "t", p); len(gs) != 0 {
			return fmt.Errorf("grants survive DeleteGrants")
		}
		if to, _ := tx.GrantsTo(ctx, "t", "dr"); len(to) != 1 || to[0].ID != "g0" {
			return fmt.Errorf("GrantsTo after DeleteGrants = %d grants, want only g0", len(to))
		}
		return nil
	})
}

func testAccounts(t *testing.T, h Harness) {
	b := open(t, h)
	p := pid(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := phisilo.Account{Tenant: "t", UserID: "u1", Role: phisilo.RolePatient, Patient: p, PasswordHash: "h", Created: now}
	s := phisilo.Session{TokenHash: bytes.Repeat([]byte{7}, 32), Tenant: "t", UserID: "u1", Purpose: phisilo.PurposePatientRequest, Created: now, LastSeen: now}
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		if err := tx.PutAccount(ctx, a); err != nil {
			return err
		}
		return tx.PutSession(ctx, s)
	})
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		got, err := tx.Account(ctx, "t", "u1")
		if err != nil || got.Patient != p || got.Role != phisilo.RolePatient || got.PasswordHash != "h" || got.Disabled {
			return fmt.Errorf("account round trip: %v", err)
		}
		got.Disabled = true
		if err := tx.PutAccount(ctx, got); err != nil {
			return err
		}
		ss, err := tx.Session(ctx, s.TokenHash)
		if err != nil || ss.UserID != "u1" || !ss.LastSeen.Equal(now) || ss.Purpose != s.Purpose {
			return fmt.Errorf("session round trip: %v", err)
		}
		ss.LastSeen = now.Add(time.Minute)
		if err := tx.PutSession(ctx, ss); err != nil {
			return err
		}
		if ss, _ := tx.Session(ctx, s.TokenHash); !ss.LastSeen.Equal(now.Add(time.Minute)) {
			return fmt.Errorf("session touch lost")
		}
		if err := tx.DeleteSession(ctx, s.TokenHash); err != nil {
			return err
		}
		if _, err := tx.Session(ctx, s.TokenHash); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("deleted session: %v", err)
		}
		if got, _ := tx.Account(ctx, "t", "u1"); !got.Disabled {
			return fmt.Errorf("account update lost")
		}
		for _, u := range []string{"u3", "u2"} {
			b := a
			b.UserID = u
			if err := tx.PutAccount(ctx, b); err != nil {
				return err
			}
		}
		other := a
		other.Tenant = "other"
		if err := tx.PutAccount(ctx, other); err != nil {
			return err
		}
		list, err := tx.Accounts(ctx, "t", "u1", 10)
		if err != nil || len(list) != 2 || list[0].UserID != "u2" || list[1].UserID != "u3" || list[0].Patient != p {
			return fmt.Errorf("Accounts(after u1) = %d accounts, %v; want u2, u3", len(list), err)
		}
		if list, _ := tx.Accounts(ctx, "t", "", 1); len(list) != 1 || list[0].UserID != "u1" {
			return fmt.Errorf("Accounts(limit 1) wrong")
		}
		if err := tx.DeleteAccount(ctx, "t", "u1"); err != nil {
			return err
		}
		if _, err := tx.Account(ctx, "t", "u1"); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("deleted account: %v", err)
		}
		return nil
	})
}

var errAbort = errors.New("phisilotest: abort")

// testRollback: a failed transaction leaves no trace, audit included.
func testRollback(t *testing.T, h Harness) {
	b := open(t, h)
	p := pid(t)
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		_, err := tx.AppendAudit(ctx, []byte(`{"n":1}`))
		return err
	})
	err := b.Update(context.Background(), func(tx phisilo.Tx) error {
		ctx := context.Background()
		if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: p, KEKVersion: 1, Wrapped: []byte{1}}); err != nil {
			return err
		}
		if err := tx.PutRecord(ctx, phisilo.SealedRecord{Tenant: "t", Patient: p, Schema: 1, Ciphertext: []byte{1}, Updated: time.Now()}); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, []byte(`{"n":2}`)); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update returned %v, want the callback's error", err)
	}
	assertAbsent(t, b, p)
	// The chain continues from entry 1, not from the rolled-back entry 2.
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		e, err := tx.AppendAudit(ctx, []byte(`{"n":3}`))
		if err == nil && e.Seq != 2 {
			return fmt.Errorf("seq after rollback = %d, want 2", e.Seq)
		}
		return err
	})
	if _, err := phisilo.VerifyAudit(context.Background(), b, phisilo.VerifyOptions{}); err != nil {
		t.Fatalf("VerifyAudit after rollback: %v", err)
	}
}

func assertAbsent(t *testing.T, b phisilo.Backend, p phisilo.PatientID) {
	t.Helper()
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		if _, err := tx.Key(ctx, "t", p); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("key survived rollback: %v", err)
		}
		if _, err := tx.Record(ctx, "t", p); !errors.Is(err, phisilo.ErrNotFound) {
			return fmt.Errorf("record survived rollback: %v", err)
		}
		return nil
	})
	es, err := b.Audit(context.Background(), 0, 100)
	must(t, err)
	for _, e := range es {
		if bytes.Contains(e.Body, []byte(`"n":2`)) {
			t.Fatalf("audit entry survived rollback")
		}
	}
}

// testCancel: a context cancelled inside the transaction rolls it back.
func testCancel(t *testing.T, h Harness) {
	b := open(t, h)
	p := pid(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := b.Update(ctx, func(tx phisilo.Tx) error {
		if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: p, KEKVersion: 1, Wrapped: []byte{1}}); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, []byte(`{"n":2}`)); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Fatalf("Update with a context cancelled before commit succeeded")
	}
	assertAbsent(t, b, p)
}

func testAuditChain(t *testing.T, h Harness) {
	b := open(t, h)
	const n = 25
	for i := 0; i < n; i++ {
		update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
			e, err := tx.AppendAudit(ctx, []byte(fmt.Sprintf(`{"i":%d}`, i)))
			if err != nil {
				return err
			}
			if e.Seq != uint64(i+1) {
				return fmt.Errorf("seq %d, want %d", e.Seq, i+1)
			}
			return nil
		})
	}
	var all []phisilo.AuditEntry
	var after uint64
	for {
		page, err := b.Audit(context.Background(), after, 7)
		must(t, err)
		all = append(all, page...)
		if len(page) < 7 {
			break
		}
		after = page[len(page)-1].Seq
	}
	if len(all) != n {
		t.Fatalf("paged %d entries, want %d", len(all), n)
	}
	prev := phisilo.GenesisHash()
	for i, e := range all {
		if e.Seq != uint64(i+1) || !bytes.Equal(e.Prev, prev) || !bytes.Equal(e.Hash, phisilo.ChainHash(prev, e.Seq, e.Body)) {
			t.Fatalf("entry %d: chain mismatch", i+1)
		}
		if want := fmt.Sprintf(`{"i":%d}`, i); string(e.Body) != want {
			t.Fatalf("entry %d: body not stored verbatim", i+1)
		}
		prev = e.Hash
	}
	if got, err := phisilo.VerifyAudit(context.Background(), b, phisilo.VerifyOptions{}); err != nil || got != n {
		t.Fatalf("VerifyAudit = %d, %v", got, err)
	}
}

func testCheckpoints(t *testing.T, h Harness) {
	b := open(t, h)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	for i := 0; i < 6; i++ {
		update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
			e, err := tx.AppendAudit(ctx, []byte(`{}`))
			if err != nil || e.Seq%3 != 0 {
				return err
			}
			c, err := phisilo.SignCheckpoint(priv, e, time.Now())
			if err != nil {
				return err
			}
			return tx.PutCheckpoint(ctx, c)
		})
	}
	cps, err := b.Checkpoints(context.Background(), 0, 10)
	must(t, err)
	if len(cps) != 2 || cps[0].Seq != 3 || cps[1].Seq != 6 {
		t.Fatalf("checkpoints = %v", cps)
	}
	if cps, _ := b.Checkpoints(context.Background(), 3, 10); len(cps) != 1 {
		t.Fatalf("Checkpoints(after 3) = %d, want 1", len(cps))
	}
	opts := phisilo.VerifyOptions{PublicKey: priv.Public(), CheckpointEvery: 3}
	if _, err := phisilo.VerifyAudit(context.Background(), b, opts); err != nil {
		t.Fatalf("VerifyAudit with checkpoints: %v", err)
	}
}

// testConcurrent: writers racing on the chain never fork or skip it.
func testConcurrent(t *testing.T, h Harness) {
	b := open(t, h)
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p, _ := phisilo.NewPatientID(rand.Reader)
				err := b.Update(context.Background(), func(tx phisilo.Tx) error {
					ctx := context.Background()
					if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: p, KEKVersion: 1, Wrapped: []byte{1}}); err != nil {
						return err
					}
					_, err := tx.AppendAudit(ctx, []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Update: %v", err)
	}
	n, err := phisilo.VerifyAudit(context.Background(), b, phisilo.VerifyOptions{})
	if err != nil || n != workers*each {
		t.Fatalf("VerifyAudit after concurrent writers = %d, %v; want %d", n, err, workers*each)
	}
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		ks, err := tx.KeysBelow(ctx, 2, 1000)
		if err == nil && len(ks) != workers*each {
			return fmt.Errorf("%d keys, want %d", len(ks), workers*each)
		}
		return err
	})
}

// testPatientIDs: PatientIDs pages through the keyed patients in order.
func testPatientIDs(t *testing.T, h Harness) {
	b := open(t, h)
	var ids []phisilo.PatientID
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		for i := 0; i < 5; i++ {
			p := pid(t)
			ids = append(ids, p)
			if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: p, KEKVersion: 1, Wrapped: []byte{1}}); err != nil {
				return err
			}
		}
		return tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "other", Patient: pid(t), KEKVersion: 1, Wrapped: []byte{1}})
	})
	slices.SortFunc(ids, func(a, b phisilo.PatientID) int { return bytes.Compare(a[:], b[:]) })
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		var got []phisilo.PatientID
		var after phisilo.PatientID
		for {
			page, err := tx.PatientIDs(ctx, "t", after, 2)
			if err != nil {
				return err
			}
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(got, ids) {
			return fmt.Errorf("PatientIDs paged %d ids, want the 5 of the tenant in order", len(got))
		}
		return nil
	})
}

// testDurable: committed data survives a reopen; the chain continues.
func testDurable(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("backend is not durable")
	}
	b := h.New(t)
	p := pid(t)
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		if err := tx.PutKey(ctx, phisilo.WrappedKey{Tenant: "t", Patient: p, KEKVersion: 1, Wrapped: []byte{1}}); err != nil {
			return err
		}
		_, err := tx.AppendAudit(ctx, []byte(`{}`))
		return err
	})
	b = h.Reopen(t, b)
	t.Cleanup(func() { b.Close() })
	update(t, b, func(ctx context.Context, tx phisilo.Tx) error {
		if _, err := tx.Key(ctx, "t", p); err != nil {
			return fmt.Errorf("key lost across reopen: %w", err)
		}
		e, err := tx.AppendAudit(ctx, []byte(`{}`))
		if err == nil && e.Seq != 2 {
			return fmt.Errorf("seq after reopen = %d, want 2", e.Seq)
		}
		return err
	})
	if _, err := phisilo.VerifyAudit(context.Background(), b, phisilo.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testSilo: the service over this backend, end to end.
func testSilo(t *testing.T, h Harness) {
	b := open(t, h)
	ks, err := phisilo.NewKeyset("", nil)
	must(t, err)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := phisilo.New(phisilo.Config{Backend: b, Keys: ks, CheckpointKey: priv, CheckpointEvery: 4, PasswordIterations: 1000})
	must(t, err)
	ctx := context.Background()
	self := phisilo.Principal{UserID: "app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	rec := phisilo.Record{Name: phisilo.Name{Given: "Ada", Family: "Lovelace"}, BirthDate: "1815-12-10"}
	id, err := s.Register(ctx, self, rec, &phisilo.Credentials{UserID: "ada", Password: "correct horse battery"})
	must(t, err)
	tok, pr, err := s.Login(ctx, phisilo.Credentials{UserID: "ada", Password: "correct horse battery"}, phisilo.PurposePatientRequest, "test")
	must(t, err)
	if pr.Patient != id {
		t.Fatalf("login principal not bound to the registered patient")
	}
	pr, err = s.Session(ctx, tok, "test")
	must(t, err)
	got, err := s.Get(ctx, pr, id)
	must(t, err)
	if got.Name != rec.Name {
		t.Fatalf("record round trip mismatch")
	}
	other := phisilo.Principal{UserID: "eve", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeTreatment}
	if _, err := s.Get(ctx, other, id); !errors.Is(err, phisilo.ErrDenied) {
		t.Fatalf("clinician without grant: %v, want ErrDenied", err)
	}
	must(t, s.Delete(ctx, pr, id))
	if _, err := s.Get(ctx, pr, id); !errors.Is(err, phisilo.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := s.VerifyAudit(ctx)
	if err != nil || n < 6 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
}

// errInjected is a storage fault injected by faultyBackend.
var errInjected = errors.New("phisilotest: injected storage fault")

// faultyBackend wraps a backend: its first Update waits for gate (so
// concurrent silo calls queue up behind it and share the next
// transactions), Key fails for the patient bad with a storage error, and
// it records the most audit appends seen in one transaction.
type faultyBackend struct {
	phisilo.Backend
	bad     phisilo.PatientID
	gate    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	maxMemb int
}

func (f *faultyBackend) Update(ctx context.Context, fn func(phisilo.Tx) error) error {
	f.once.Do(func() { <-f.gate })
	return f.Backend.Update(ctx, func(tx phisilo.Tx) error {
		ft := &faultyTx{Tx: tx, bad: f.bad}
		err := fn(ft)
		if err == nil {
			f.mu.Lock()
			f.maxMemb = max(f.maxMemb, ft.appends)
			f.mu.Unlock()
		}
		return err
	})
}

type faultyTx struct {
	phisilo.Tx
	bad     phisilo.PatientID
	appends int
}

func (t *faultyTx) Key(ctx context.Context, tenant string, p phisilo.PatientID) (phisilo.WrappedKey, error) {
	if p == t.bad {
		return phisilo.WrappedKey{}, errInjected
	}
	return t.Tx.Key(ctx, tenant, p)
}

func (t *faultyTx) AppendAudit(ctx context.Context, body []byte) (phisilo.AuditEntry, error) {
	t.appends++
	return t.Tx.AppendAudit(ctx, body)
}

// testBatchFailure: concurrent reads share group-commit transactions; one
// member whose storage read fails gets its error and no PHI, and the
// others' reads and audit entries are neither lost nor duplicated, and
// the chain verifies.
func testBatchFailure(t *testing.T, h Harness) {
	b := open(t, h)
	ks, err := phisilo.NewKeyset("", nil)
	must(t, err)
	ctx := context.Background()
	setup, err := phisilo.New(phisilo.Config{Backend: b, Keys: ks, PasswordIterations: 1000})
	must(t, err)
	self := phisilo.Principal{UserID: "app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	const n = 12
	ids := make([]phisilo.PatientID, n)
	for i := range ids {
		ids[i], err = setup.Register(ctx, self, phisilo.Record{Name: phisilo.Name{Given: "P", Family: fmt.Sprint(i)}}, nil)
		must(t, err)
	}
	before, err := phisilo.VerifyAudit(ctx, b, phisilo.VerifyOptions{})
	must(t, err)
	f := &faultyBackend{Backend: b, bad: ids[n/2], gate: make(chan struct{})}
	s, err := phisilo.New(phisilo.Config{Backend: f, Keys: ks, PasswordIterations: 1000})
	must(t, err)
	var started, done sync.WaitGroup
	errs := make([]error, n)
	recs := make([]phisilo.Record, n)
	for i := range ids {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			own := phisilo.Principal{UserID: fmt.Sprintf("u%d", i), Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: ids[i]}
			started.Done()
			recs[i], errs[i] = s.Get(ctx, own, ids[i])
		}()
	}
	started.Wait()
	close(f.gate)
	done.Wait()
	for i := range ids {
		if i == n/2 {
			if !errors.Is(errs[i], errInjected) || recs[i].Name.Family != "" {
				t.Fatalf("failing member: err %v, record returned %v; want the storage error and no record", errs[i], recs[i].Name.Family != "")
			}
			continue
		}
		if errs[i] != nil || recs[i].Name.Family != fmt.Sprint(i) {
			t.Fatalf("member %d: %v (record match %v)", i, errs[i], recs[i].Name.Family == fmt.Sprint(i))
		}
	}
	total, err := phisilo.VerifyAudit(ctx, b, phisilo.VerifyOptions{})
	must(t, err)
	if total-before != n-1 {
		t.Fatalf("%d audit entries for %d successful reads", total-before, n-1)
	}
	seen := map[string]int{}
	entries, err := b.Audit(ctx, before, 1000)
	must(t, err)
	for _, e := range entries {
		r, err := phisilo.DecodeAuditEntry(e)
		must(t, err)
		if r.Event.Action != phisilo.ActionRead || r.Event.Outcome != phisilo.OutcomeSuccess {
			t.Fatalf("unexpected audit event %s/%s", r.Event.Action, r.Event.Outcome)
		}
		seen[r.Event.UserID]++
	}
	for i := range ids {
		if want := map[bool]int{true: 0, false: 1}[i == n/2]; seen[fmt.Sprintf("u%d", i)] != want {
			t.Fatalf("user u%d has %d audit entries, want %d", i, seen[fmt.Sprintf("u%d", i)], want)
		}
	}
	f.mu.Lock()
	t.Logf("largest committed batch: %d audited calls", f.maxMemb)
	f.mu.Unlock()
}

var markers = [...]string{"ZQXMARKERGIVEN", "ZQXMARKERFAMILY", "ZQXMARKERSTREET", "zqxmarker@example.org", "+1-555-0142-9"}

// Markers returns the distinctive values [MarkerRecord] stores; at-rest
// tests scan storage, logs and error strings for them.
func Markers() []string { return append([]string(nil), markers[:]...) }

// MarkerRecord returns a record made of [Markers].
func MarkerRecord() phisilo.Record {
	return phisilo.Record{
		Name:      phisilo.Name{Given: markers[0], Family: markers[1]},
		BirthDate: "1950-07-04",
		Contact:   phisilo.Contact{Email: markers[3], Phone: markers[4]},
		Address:   phisilo.Address{Lines: []string{markers[2]}, City: "Springfield", State: "IL", PostalCode: "62704", Country: "US"},
		Consent:   phisilo.Consent{Treatment: true},
	}
}

// ExerciseWithMarkers drives s through every kind of call with marker PHI,
// including failing and denied ones, and returns the patient ID and every
// error string it saw. Scan those, the logs and the storage for [Markers].
func ExerciseWithMarkers(t *testing.T, s *phisilo.Silo) (phisilo.PatientID, []string) {
	t.Helper()
	ctx := context.Background()
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	self := phisilo.Principal{UserID: "app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	id, err := s.Register(ctx, self, MarkerRecord(), &phisilo.Credentials{UserID: "marker-user", Password: "marker password 123"})
	if err != nil {
		t.Fatal(err)
	}
	own := phisilo.Principal{UserID: "marker-user", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
	_, err = s.Get(ctx, own, id)
	note(err)
	bad := MarkerRecord()
	bad.BirthDate = markers[0]
	note(s.Update(ctx, own, id, bad))
	bad = MarkerRecord()
	bad.Contact.Email = markers[0]
	note(s.Update(ctx, own, id, bad))
	bad.Name.Given = markers[0] + "\x00"
	note(s.Update(ctx, own, id, bad))
	note(s.Update(ctx, own, id, MarkerRecord()))
	_, err = s.Get(ctx, phisilo.Principal{UserID: "dr-nobody", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeTreatment}, id)
	note(err)
	_, err = s.CreateGrant(ctx, own, id, phisilo.GrantRequest{Grantee: "dr", GranteeRole: phisilo.RoleClinician, Sections: []phisilo.Section{phisilo.SectionContact}, Duration: time.Hour})
	note(err)
	_, _, err = s.Login(ctx, phisilo.Credentials{UserID: "marker-user", Password: markers[0]}, phisilo.PurposePatientRequest, "")
	note(err)
	_, err = s.Deidentified(ctx, phisilo.Principal{UserID: "sup", Role: phisilo.RoleSupport, Purpose: phisilo.PurposeOperations}, id)
	note(err)
	return id, errs
}

// AssertNoMarkers fails if any marker occurs in data (named what).
func AssertNoMarkers(t *testing.T, what string, data []byte) {
	t.Helper()
	for i, m := range markers {
		if bytes.Contains(bytes.ToLower(data), bytes.ToLower([]byte(m))) {
			t.Errorf("marker PHI (marker %d) found in %s", i, what)
		}
	}
}
