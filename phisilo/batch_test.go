package phisilo_test

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// TestGroupCommitSurvivesCancelledWaiters: many concurrent callers, some
// of whose contexts end while they wait for the sequencer, never stall it:
// every call returns, a cancelled call returns its context error or a
// committed result, and the chain holds exactly one entry per committed
// call.
func TestGroupCommitSurvivesCancelledWaiters(t *testing.T) {
	e := newEnv(t)
	id, own := e.register(t)
	ctx := context.Background()
	before, err := e.silo.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c, cancel := context.WithCancel(ctx)
				if (w+i)%3 == 0 {
					go cancel() // races with the call
				}
				_, err := e.silo.Get(c, own, id)
				cancel()
				switch {
				case err == nil:
					mu.Lock()
					ok++
					mu.Unlock()
				case errors.Is(err, context.Canceled):
				default:
					t.Errorf("Get: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	after, err := e.silo.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A call cancelled after its batch committed may report the context
	// error although its (audited) read happened; never the reverse.
	if got := int(after - before); got < ok || got > workers*each {
		t.Fatalf("%d audit entries for %d successful reads of %d calls", got, ok, workers*each)
	}
	if _, err := e.silo.Get(ctx, own, id); err != nil {
		t.Fatalf("sequencer stalled or broken after cancellations: %v", err)
	}
}
