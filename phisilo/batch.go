package phisilo

import (
	"context"
	"errors"
	"sync"
)

// Group commit.
//
// Every silo call appends an audit event, so every call (reads included)
// is a durable commit. Committing each call on its own makes throughput
// one fsync per call and, because the audit chain is one sequence, lets
// only one transaction at a time hold the chain head. The sequencer below
// batches the calls that arrive while a commit is in flight: one leader
// runs the queued calls one after another inside ONE backend transaction
// (each call's reads and writes, then its audit entry, so the chain stays
// strictly sequential and every write shares a transaction with its audit
// entry) and commits once. Every call still returns only after that commit
// succeeded: no PHI leaves the silo before its audit entry is durable.
//
// A member whose body fails with a storage error (not an audited domain
// outcome) aborts the shared transaction. The batch is then rolled back
// and run again without that member, and the member is retried alone, so
// one failure never loses or corrupts the others' entries. A begin or
// commit failure of a batch falls back to committing each member alone.

// pending is one call waiting for the sequencer.
type pending struct {
	ctx  context.Context
	o    *op
	ev   AuditEvent // o.ev as it was before any attempt, restored on retry
	body func(tx Tx) error
	done chan result // buffered (1): exactly one result is ever sent
}

type result struct {
	err  error
	lead bool // the receiver becomes the leader and must drain the queue
}

type sequencer struct {
	mu      sync.Mutex
	queue   []*pending
	leaders int // leaders committing a batch, at most lanes
	lanes   int
}

// CommitLaner is implemented by backends that can usefully run several
// audit-appending transactions at once (PostgreSQL: the members' reads and
// writes of one batch overlap the commit of another; only the chain head
// is serialized). The silo runs that many batches concurrently; without
// it, one.
type CommitLaner interface {
	CommitLanes() int
}

// maxBatch bounds how many calls share one transaction.
const maxBatch = 64

// submit runs p through the sequencer and returns the backend error (nil
// once p's transaction committed).
func (s *Silo) submit(p *pending) error {
	q := &s.seq
	q.mu.Lock()
	lead := q.leaders < q.lanes
	if lead {
		q.leaders++
	} else {
		q.queue = append(q.queue, p)
	}
	q.mu.Unlock()
	if !lead {
		var r result
		select {
		case r = <-p.done:
		case <-p.ctx.Done():
			q.mu.Lock()
			for i, x := range q.queue {
				if x == p {
					q.queue = append(q.queue[:i], q.queue[i+1:]...)
					q.mu.Unlock()
					return p.ctx.Err() // never started: nothing committed
				}
			}
			q.mu.Unlock()
			r = <-p.done // taken by a leader, or made leader: wait for it
		}
		if !r.lead {
			return r.err
		}
	}
	// Leader: commit one batch led by p, then hand the lane to the next
	// waiter, if any, so no caller serves others forever.
	q.mu.Lock()
	n := min(len(q.queue), maxBatch-1)
	batch := append([]*pending{p}, q.queue[:n]...)
	q.queue = append(q.queue[:0:0], q.queue[n:]...)
	q.mu.Unlock()
	var mine error
	s.commitBatch(batch, func(x *pending, err error) {
		if x == p {
			mine = err
			return
		}
		x.done <- result{err: err}
	})
	q.mu.Lock()
	if len(q.queue) > 0 {
		next := q.queue[0]
		q.queue = q.queue[1:]
		next.done <- result{lead: true} // never blocks: buffered, only send
	} else {
		q.leaders--
	}
	q.mu.Unlock()
	return mine
}

// memberError is a storage error raised by one member of a batch.
type memberError struct {
	i   int
	err error
}

func (e *memberError) Error() string { return e.err.Error() }
func (e *memberError) Unwrap() error { return e.err }

// commitBatch commits batch and reports each member's outcome through
// deliver exactly once.
func (s *Silo) commitBatch(batch []*pending, deliver func(*pending, error)) {
	for len(batch) > 0 {
		if len(batch) == 1 {
			deliver(batch[0], s.cfg.Backend.Update(batch[0].ctx, func(tx Tx) error { return s.member(tx, batch[0]) }))
			return
		}
		// The shared transaction outlives any one member's context; each
		// member's own statements still use its context.
		ctx := context.WithoutCancel(batch[0].ctx)
		err := s.cfg.Backend.Update(ctx, func(tx Tx) error {
			// All bodies first, then all audit entries in the same order:
			// the chain head (a row lock on PostgreSQL) is taken only for
			// the appends and the commit, so another lane's bodies can run
			// meanwhile.
			for i, p := range batch {
				if err := p.ctx.Err(); err != nil {
					return &memberError{i: i, err: err}
				}
				if err := s.body(tx, p); err != nil {
					return &memberError{i: i, err: err}
				}
			}
			for i, p := range batch {
				if err := s.appendAudit(p.ctx, tx, p.o.ev); err != nil {
					return &memberError{i: i, err: err}
				}
			}
			return nil
		})
		if err == nil {
			for _, p := range batch {
				deliver(p, nil)
			}
			return
		}
		var me *memberError
		if !errors.As(err, &me) {
			// Begin or commit failed: nothing of the batch persisted.
			// Commit each member alone so each gets its own outcome.
			for _, p := range batch {
				deliver(p, s.cfg.Backend.Update(p.ctx, func(tx Tx) error { return s.member(tx, p) }))
			}
			return
		}
		bad := batch[me.i]
		if bad.ctx.Err() != nil {
			deliver(bad, bad.ctx.Err())
		} else {
			// Its failure may stem from the shared transaction: retry alone.
			deliver(bad, s.cfg.Backend.Update(bad.ctx, func(tx Tx) error { return s.member(tx, bad) }))
		}
		batch = append(batch[:me.i:me.i], batch[me.i+1:]...)
	}
}

// member runs one call's body and appends its audit event in tx.
func (s *Silo) member(tx Tx, p *pending) error {
	if err := s.body(tx, p); err != nil {
		return err
	}
	return s.appendAudit(p.ctx, tx, p.o.ev)
}

// body runs one call's body in tx and fills in its audit event's outcome.
func (s *Silo) body(tx Tx, p *pending) error {
	o := p.o
	o.ev, o.result = p.ev, nil
	res := p.body(tx)
	if res != nil && !domainError(res) {
		return res
	}
	o.result = res
	switch {
	case res == nil:
		o.ev.Outcome = OutcomeSuccess
	case errors.Is(res, ErrDenied):
		o.ev.Outcome = OutcomeDenied
		o.ev.Reason = reasonOf(res)
	default:
		o.ev.Outcome = OutcomeFailure
		o.ev.Reason = reasonOf(res)
	}
	return nil
}
