package phisilo_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

// auditLog makes a silo with n audit entries (checkpoints every 5).
func auditLog(t *testing.T, n int) *env {
	t.Helper()
	e := newEnv(t)
	id, own := e.register(t)
	for i := 1; i < n; i++ {
		if _, err := e.silo.Get(context.Background(), own, id); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func wantBad(t *testing.T, e *env, seq uint64, reason string) {
	t.Helper()
	_, err := e.silo.VerifyAudit(context.Background())
	var ve *phisilo.AuditVerifyError
	if !errors.As(err, &ve) || !errors.Is(err, phisilo.ErrAuditTampered) {
		t.Fatalf("VerifyAudit = %v, want AuditVerifyError", err)
	}
	if ve.Seq != seq || ve.Reason != reason {
		t.Fatalf("VerifyAudit failed at entry %d (%s), want %d (%s)", ve.Seq, ve.Reason, seq, reason)
	}
}

func TestTamperAuditEdit(t *testing.T) {
	e := auditLog(t, 12)
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry {
		es[6].Body = bytes.Replace(es[6].Body, []byte(`"success"`), []byte(`"denied"`), 1)
		return es
	})
	wantBad(t, e, 7, "hash")
}

func TestTamperAuditEditWithRecomputedChain(t *testing.T) {
	// The attacker edits entry 7 and recomputes every later hash. Only the
	// signed checkpoint at 10 can tell.
	e := auditLog(t, 12)
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry {
		es[6].Body = bytes.Replace(es[6].Body, []byte(`"success"`), []byte(`"denied"`), 1)
		for i := 6; i < len(es); i++ {
			es[i].Prev = es[i-1].Hash
			es[i].Hash = phisilo.ChainHash(es[i].Prev, es[i].Seq, es[i].Body)
		}
		return es
	})
	wantBad(t, e, 10, "checkpoint-hash")
}

func TestTamperAuditDelete(t *testing.T) {
	e := auditLog(t, 12)
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry {
		return append(es[:3:3], es[4:]...)
	})
	wantBad(t, e, 4, "sequence")
}

func TestTamperAuditInsert(t *testing.T) {
	e := auditLog(t, 12)
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry {
		forged := phisilo.AuditEntry{Seq: 13, Prev: es[11].Hash, Hash: bytes.Repeat([]byte{1}, 32), Body: []byte(`{}`)}
		return append(es, forged)
	})
	wantBad(t, e, 13, "hash")
}

func TestTamperAuditInsertMiddleRenumbered(t *testing.T) {
	e := auditLog(t, 12)
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry {
		forgedBody := []byte(`{"action":"read"}`)
		forged := phisilo.AuditEntry{Seq: 4, Prev: es[2].Hash, Body: forgedBody}
		forged.Hash = phisilo.ChainHash(forged.Prev, 4, forgedBody)
		out := append([]phisilo.AuditEntry{}, es[:3]...)
		out = append(out, forged)
		for _, x := range es[3:] {
			x.Seq++
			out = append(out, x)
		}
		return out
	})
	// Entry 4 is self-consistent; the old entry 4, now numbered 5, no longer
	// links to it.
	wantBad(t, e, 5, "prev-hash")
}

func TestTamperAuditReorder(t *testing.T) {
	e := auditLog(t, 12)
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry {
		es[5], es[6] = es[6], es[5]
		es[5].Seq, es[6].Seq = 6, 7
		return es
	})
	wantBad(t, e, 6, "prev-hash")
}

func TestTamperAuditTruncateTail(t *testing.T) {
	e := auditLog(t, 12)
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry { return es[:8] })
	wantBad(t, e, 9, "truncated")
}

func TestAuditVerifiesUntampered(t *testing.T) {
	e := auditLog(t, 23)
	n, err := e.silo.VerifyAudit(context.Background())
	if err != nil || n != 23 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
}

func TestTamperCheckpointForged(t *testing.T) {
	e := auditLog(t, 12)
	cps, _ := e.mem.Checkpoints(context.Background(), 0, 10)
	forged := cps[0]
	forged.JWS = forged.JWS[:len(forged.JWS)-4] + "AAAA"
	_, err := phisilo.NewChainVerifier(phisilo.VerifyOptions{PublicKey: e.pub}, []phisilo.Checkpoint{forged})
	var ve *phisilo.AuditVerifyError
	if !errors.As(err, &ve) || ve.Reason != "checkpoint-signature" || ve.Seq != 5 {
		t.Fatalf("forged checkpoint: %v", err)
	}
}

func TestCheckpointLoopSignsTheTail(t *testing.T) {
	e := auditLog(t, 3) // fewer entries than CheckpointEvery: no checkpoint yet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.silo.CheckpointLoop(ctx, time.Millisecond) }()
	for i := 0; ; i++ {
		cps, err := e.mem.Checkpoints(context.Background(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) > 0 {
			break
		}
		if i > 5000 {
			t.Fatal("no checkpoint signed")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("CheckpointLoop returned %v", err)
	}
	// Truncating the tail is now detected.
	e.mem.TamperAudit(func(es []phisilo.AuditEntry) []phisilo.AuditEntry { return es[:3] })
	if _, err := e.silo.VerifyAudit(context.Background()); !errors.Is(err, phisilo.ErrAuditTampered) {
		t.Fatalf("tail truncation after a loop checkpoint: %v", err)
	}
}
