package phisilo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

func newAccountEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	if _, err := e.silo.Register(context.Background(), selfReg, markerRecord(), &phisilo.Credentials{UserID: "ada", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func login(e *env, user, pass, source string) error {
	_, _, err := e.silo.Login(context.Background(), phisilo.Credentials{UserID: user, Password: pass}, phisilo.PurposePatientRequest, source)
	return err
}

// TestBruteForceLoginIsThrottled: guessing one account's password from
// many sources locks the account (even the right password is refused
// while locked), the lockout doubles, every attempt is audited, and an
// unknown user ID is throttled identically (no account enumeration).
func TestBruteForceLoginIsThrottled(t *testing.T) {
	e := newAccountEnv(t)
	for _, user := range []string{"ada", "nobody"} {
		for i := 0; i < 5; i++ {
			if err := login(e, user, "guess number "+fmt.Sprint(i), fmt.Sprintf("198.51.100.%d:4000", i)); !errors.Is(err, phisilo.ErrUnauthenticated) {
				t.Fatalf("%s guess %d: %v", user, i, err)
			}
			if _, ev := e.lastEvent(t); ev.Action != phisilo.ActionLogin || ev.Outcome != phisilo.OutcomeFailure {
				t.Fatalf("failed login not audited")
			}
		}
		err := login(e, user, "correct horse battery", "203.0.113.9:5000")
		var te *phisilo.ThrottledError
		if !errors.As(err, &te) || !errors.Is(err, phisilo.ErrThrottled) || te.RetryAfter != time.Minute {
			t.Fatalf("%s after 5 failures: %v, want ThrottledError of 1m", user, err)
		}
		if _, ev := e.lastEvent(t); ev.Action != phisilo.ActionLogin || ev.Reason != "throttled" || ev.UserID != user {
			t.Fatalf("throttled attempt not audited: %+v", ev)
		}
	}
	e.clock.Advance(61 * time.Second)
	if err := login(e, "ada", "correct horse battery", "203.0.113.9:5000"); err != nil {
		t.Fatalf("after the lockout the right password: %v", err)
	}
	// Success cleared ada's count; a fresh series locks for 1m again.
	// "nobody" keeps its history: the second lockout doubles.
	for i := 0; i < 5; i++ {
		_ = login(e, "nobody", "guess", fmt.Sprintf("198.51.100.%d:4000", 50+i))
	}
	var te *phisilo.ThrottledError
	if err := login(e, "nobody", "guess", "198.51.100.99:1"); !errors.As(err, &te) || te.RetryAfter != 2*time.Minute {
		t.Fatalf("second lockout: %v, want 2m", err)
	}
	if _, err := e.silo.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCredentialStuffingIsThrottled: one source trying many different
// accounts is locked out by source (IPv6 by /64), while the same account
// from another source still works.
func TestCredentialStuffingIsThrottled(t *testing.T) {
	e := newAccountEnv(t)
	for _, src := range []string{"192.0.2.7:1111", "[2001:db8:1:2::7]:1111"} {
		for i := 0; i < 20; i++ {
			s := src
			if src[0] == '[' {
				s = fmt.Sprintf("[2001:db8:1:2::%x]:1111", i+1) // rotating within one /64
			}
			if err := login(e, fmt.Sprintf("leaked-user-%d", i), "leaked password", s); !errors.Is(err, phisilo.ErrUnauthenticated) {
				t.Fatalf("attempt %d from %s: %v", i, src, err)
			}
		}
		if err := login(e, "ada", "correct horse battery", src); !errors.Is(err, phisilo.ErrThrottled) {
			t.Fatalf("source %s after 20 failures: %v, want ErrThrottled", src, err)
		}
	}
	if err := login(e, "ada", "correct horse battery", "203.0.113.9:5000"); err != nil {
		t.Fatalf("ada from an innocent source: %v", err)
	}
	n, err := e.silo.VerifyAudit(context.Background())
	if err != nil || n < 43 {
		t.Fatalf("audit: %d entries, %v", n, err)
	}
}
