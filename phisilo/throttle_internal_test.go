package phisilo

import (
	"fmt"
	"testing"
	"time"
)

// A flood of failures with fresh user IDs (credential stuffing across
// many accounts) must not grow the throttle table past MaxKeys, and a key
// locked out before the flood stays locked.
func TestCredentialStuffingFloodKeepsThrottleTableBounded(t *testing.T) {
	thr := &throttle{cfg: LoginThrottle{PerAccount: 2, PerSource: -1, MaxKeys: 100}.withDefaults(), m: map[string]*throttleEntry{}}
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	victim, _ := thr.keys("t", "alice", "")
	thr.fail(now, victim, "")
	thr.fail(now, victim, "")
	if thr.locked(now, victim) == 0 {
		t.Fatal("two failures did not lock the account")
	}
	for i := range 10000 {
		acct, _ := thr.keys("t", fmt.Sprintf("user%d", i), "")
		thr.fail(now.Add(time.Duration(i)*time.Millisecond), acct, "")
		if len(thr.m) > 100 {
			t.Fatalf("table holds %d keys after %d failures, MaxKeys 100", len(thr.m), i+1)
		}
	}
	if thr.locked(now.Add(10*time.Second), victim) == 0 {
		t.Fatal("the flood evicted a live lockout")
	}
	// Once the entries age out of their window and lockout history, a
	// failure prunes them and new accounts are tracked again.
	later := now.Add(thr.cfg.Window + thr.cfg.MaxLockout + time.Minute)
	acct, _ := thr.keys("t", "bob", "")
	thr.fail(later, acct, "")
	if _, ok := thr.m[acct]; !ok || len(thr.m) != 1 {
		t.Fatalf("after expiry: %d keys, bob tracked %v", len(thr.m), ok)
	}
}
