package phisilo

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ErrThrottled: too many failed logins for this account or from this
// source; see [ThrottledError] for when to retry. It says nothing about
// whether the account exists: unknown user IDs are throttled the same way.
var ErrThrottled = errors.New("phisilo: too many failed logins")

// ThrottledError is returned by [Silo.Login] while the account or the
// source is locked out after repeated failures.
type ThrottledError struct {
	RetryAfter time.Duration // until the lockout ends
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("phisilo: login: too many failed attempts; retry after %s", e.RetryAfter.Round(time.Second))
}

// Unwrap returns [ErrThrottled].
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// LoginThrottle configures the throttling of failed logins (credential
// stuffing and password guessing). Failures are counted per account (the
// user ID tried, whether or not it exists) and per source (the client IP;
// IPv6 by /64) within Window; reaching a limit locks that key out for
// Lockout, doubling with each further lockout up to MaxLockout. While
// locked out every attempt, right password or not, fails with
// [ThrottledError] without a password check and is audited. A successful
// login clears the account's failures. The counters live in the Silo's
// memory: each API server throttles on its own.
type LoginThrottle struct {
	PerAccount int           // failures per account per Window; zero means 5, negative disables
	PerSource  int           // failures per source per Window; zero means 20, negative disables
	Window     time.Duration // zero means 15 minutes
	Lockout    time.Duration // first lockout; zero means 1 minute
	MaxLockout time.Duration // zero means 1 hour
	MaxKeys    int           // tracked keys before old ones are pruned; zero means 100000
}

func (c LoginThrottle) withDefaults() LoginThrottle {
	if c.PerAccount == 0 {
		c.PerAccount = 5
	}
	if c.PerSource == 0 {
		c.PerSource = 20
	}
	if c.Window <= 0 {
		c.Window = 15 * time.Minute
	}
	if c.Lockout <= 0 {
		c.Lockout = time.Minute
	}
	if c.MaxLockout < c.Lockout {
		c.MaxLockout = max(time.Hour, c.Lockout)
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100000
	}
	return c
}

type throttleEntry struct {
	failures    int
	windowStart time.Time
	lockedUntil time.Time
	lockouts    int
}

type throttle struct {
	cfg       LoginThrottle
	mu        sync.Mutex
	m         map[string]*throttleEntry
	lastPrune time.Time
}

// keys returns the throttle keys of an attempt.
func (t *throttle) keys(tenant, userID, source string) (acct, src string) {
	if t.cfg.PerAccount > 0 {
		acct = "a\x00" + tenant + "\x00" + userID
	}
	if t.cfg.PerSource > 0 && source != "" {
		host := source
		if h, _, err := net.SplitHostPort(source); err == nil {
			host = h
		}
		if a, err := netip.ParseAddr(host); err == nil {
			a = a.Unmap()
			if a.Is6() {
				p, _ := a.Prefix(64)
				host = p.String()
			} else {
				host = a.String()
			}
		}
		src = "s\x00" + host
	}
	return acct, src
}

// locked returns how long the attempt must wait, zero if it may proceed.
func (t *throttle) locked(now time.Time, keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if e := t.m[k]; k != "" && e != nil && now.Before(e.lockedUntil) {
			wait = max(wait, e.lockedUntil.Sub(now))
		}
	}
	return wait
}

// fail counts a failed attempt against the keys.
func (t *throttle) fail(now time.Time, acct, src string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// A full table is pruned at most once a second: a flood of failures
	// with fresh user IDs must not rescan MaxKeys entries on every attempt.
	if len(t.m) >= t.cfg.MaxKeys && now.Sub(t.lastPrune) >= time.Second {
		t.prune(now)
		t.lastPrune = now
	}
	for _, k := range []struct {
		key   string
		limit int
	}{{acct, t.cfg.PerAccount}, {src, t.cfg.PerSource}} {
		if k.key == "" {
			continue
		}
		e := t.m[k.key]
		if e == nil {
			if len(t.m) >= t.cfg.MaxKeys {
				continue // full of live entries: the other key still counts
			}
			e = &throttleEntry{}
			t.m[k.key] = e
		}
		if now.Sub(e.windowStart) > t.cfg.Window {
			e.failures, e.windowStart = 0, now
		}
		e.failures++
		if e.failures >= k.limit {
			d := t.cfg.Lockout << min(e.lockouts, 20)
			if d > t.cfg.MaxLockout || d <= 0 {
				d = t.cfg.MaxLockout
			}
			e.lockedUntil, e.failures, e.windowStart = now.Add(d), 0, now
			e.lockouts++
		}
	}
}

// succeed clears an account's failures after a successful login.
func (t *throttle) succeed(acct string) {
	if acct == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, acct)
}

// prune drops entries that are neither locked nor within their window
// (lockout history is forgotten after MaxLockout).
func (t *throttle) prune(now time.Time) {
	for k, e := range t.m {
		if !now.Before(e.lockedUntil.Add(t.cfg.MaxLockout)) && now.Sub(e.windowStart) > t.cfg.Window {
			delete(t.m, k)
		}
	}
}
