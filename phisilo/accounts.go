package phisilo

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Password limits.
const (
	MinPasswordBytes = 12
	MaxPasswordBytes = 1024 // bounds KDF input an attacker can send
	maxIterations    = 10_000_000
)

// Credentials are a user ID and password.
type Credentials struct {
	UserID   string
	Password string
}

// LogValue implements [slog.LogValuer]: it hides the password.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", c.UserID), slog.String("password", "[REDACTED]"))
}

// HashPassword derives a PBKDF2-HMAC-SHA256 hash of password with a random
// 16-byte salt, encoded as "pbkdf2-sha256$ITER$SALT$HASH" (base64, no padding).
func HashPassword(rand io.Reader, password string, iterations int) (string, error) {
	if len(password) < MinPasswordBytes {
		return "", &FieldError{Field: "password", Reason: "too short"}
	}
	if len(password) > MaxPasswordBytes {
		return "", &LimitError{Limit: "MaxPasswordBytes", Max: MaxPasswordBytes}
	}
	if iterations < 1 || iterations > maxIterations {
		return "", &FieldError{Field: "iterations", Reason: "out of range"}
	}
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("phisilo: salt: %w", err)
	}
	dk, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return "", fmt.Errorf("phisilo: password hash: %w", err)
	}
	e := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(iterations) + "$" + e.EncodeToString(salt) + "$" + e.EncodeToString(dk), nil
}

// CheckPassword reports whether password matches hash, in constant time
// for a given hash.
func CheckPassword(hash, password string) bool {
	if len(password) > MaxPasswordBytes {
		return false
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxIterations {
		return false
	}
	e := base64.RawStdEncoding
	salt, err1 := e.DecodeString(parts[2])
	want, err2 := e.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) != 32 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

func validUserID(id string) bool {
	return id != "" && len(id) <= 128 && checkText("user_id", id) == nil
}

// kdfSlot waits for a password-hashing slot; release it with the returned func.
func (s *Silo) kdfSlot(ctx context.Context) (func(), error) {
	select {
	case s.kdf <- struct{}{}:
		return func() { <-s.kdf }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// newAccount hashes the password (outside any transaction: PBKDF2 takes
// long enough to stall a single-writer backend).
func (s *Silo) newAccount(ctx context.Context, userID string, role Role, patient PatientID, password string) (Account, error) {
	if !validUserID(userID) {
		return Account{}, &FieldError{Field: "user_id", Reason: "required, at most 128 printable bytes"}
	}
	if !role.valid() {
		return Account{}, &FieldError{Field: "role", Reason: "unknown role"}
	}
	if role == RolePatient && patient.IsZero() {
		return Account{}, &FieldError{Field: "patient", Reason: "required for patients"}
	}
	release, err := s.kdfSlot(ctx)
	if err != nil {
		return Account{}, err
	}
	h, err := HashPassword(s.cfg.Rand, password, s.cfg.PasswordIterations)
	release()
	if err != nil {
		return Account{}, err
	}
	return Account{Tenant: s.cfg.Tenant, UserID: userID, Role: role, Patient: patient, PasswordHash: h, Created: s.now()}, nil
}

// NewAccount describes an account an admin creates.
type NewAccount struct {
	UserID   string
	Role     Role
	Patient  PatientID // for RolePatient
	Password string
}

// CreateAccount creates a user account. Only admins may.
func (s *Silo) CreateAccount(ctx context.Context, p Principal, a NewAccount) error {
	if err := s.check(p, ActionManageAccounts); err != nil {
		return s.denyInvalid(ctx, ActionManageAccounts, PatientID{}, err)
	}
	o := s.newOp(p, ActionManageAccounts, a.Patient)
	if validUserID(a.UserID) {
		o.ev.Target = a.UserID
	}
	if _, derr := decide(p, ActionManageAccounts, PatientID{}, nil, "", s.now()); derr != nil {
		return s.run(ctx, o, func(Tx) error { return derr }) // deny before spending a KDF
	}
	acct, aerr := s.newAccount(ctx, a.UserID, a.Role, a.Patient, a.Password)
	if aerr != nil && !domainError(aerr) {
		return aerr
	}
	return s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionManageAccounts, PatientID{}, ""); err != nil {
			return err
		}
		if aerr != nil {
			return aerr
		}
		if _, err := tx.Account(ctx, s.cfg.Tenant, a.UserID); err == nil {
			return fmt.Errorf("phisilo: account: %w", ErrExists)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return tx.PutAccount(ctx, acct)
	})
}

// SetAccountDisabled disables or re-enables an account. Disabling does not
// end live sessions immediately; they fail at their next use. Only admins may.
func (s *Silo) SetAccountDisabled(ctx context.Context, p Principal, userID string, disabled bool) error {
	if err := s.check(p, ActionManageAccounts); err != nil {
		return s.denyInvalid(ctx, ActionManageAccounts, PatientID{}, err)
	}
	o := s.newOp(p, ActionManageAccounts, PatientID{})
	if validUserID(userID) {
		o.ev.Target = userID
	}
	return s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionManageAccounts, PatientID{}, ""); err != nil {
			return err
		}
		a, err := tx.Account(ctx, s.cfg.Tenant, userID)
		if err != nil {
			return err
		}
		a.Disabled = disabled
		return tx.PutAccount(ctx, a)
	})
}

// DeleteAccount deletes a user account. Its sessions fail at their next
// use. Only admins may.
func (s *Silo) DeleteAccount(ctx context.Context, p Principal, userID string) error {
	if err := s.check(p, ActionManageAccounts); err != nil {
		return s.denyInvalid(ctx, ActionManageAccounts, PatientID{}, err)
	}
	o := s.newOp(p, ActionManageAccounts, PatientID{})
	if validUserID(userID) {
		o.ev.Target = userID
	}
	return s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionManageAccounts, PatientID{}, ""); err != nil {
			return err
		}
		return tx.DeleteAccount(ctx, s.cfg.Tenant, userID)
	})
}

// AccountInfo is an account as listed to admins: no password hash.
type AccountInfo struct {
	UserID   string    `json:"user_id"`
	Role     Role      `json:"role"`
	Patient  PatientID `json:"patient,omitzero"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

// MaxAccountsPage bounds one page of [Silo.Accounts].
const MaxAccountsPage = 500

// Accounts lists up to limit (1..MaxAccountsPage) accounts with user IDs
// after after, in order. Only admins may.
func (s *Silo) Accounts(ctx context.Context, p Principal, after string, limit int) ([]AccountInfo, error) {
	if err := s.check(p, ActionManageAccounts); err != nil {
		return nil, s.denyInvalid(ctx, ActionManageAccounts, PatientID{}, err)
	}
	o := s.newOp(p, ActionManageAccounts, PatientID{})
	o.ev.Target = "list"
	var out []AccountInfo
	err := s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionManageAccounts, PatientID{}, ""); err != nil {
			return err
		}
		if limit < 1 || limit > MaxAccountsPage {
			return &LimitError{Limit: "MaxAccountsPage", Max: MaxAccountsPage}
		}
		if len(after) > 128 {
			return &FieldError{Field: "after", Reason: "at most 128 bytes"}
		}
		as, err := tx.Accounts(ctx, s.cfg.Tenant, after, limit)
		for _, a := range as {
			out = append(out, AccountInfo{UserID: a.UserID, Role: a.Role, Patient: a.Patient, Disabled: a.Disabled, Created: a.Created})
		}
		return err
	})
	return out, err
}

// ChangePassword sets a new password for userID. A user may change their
// own password by giving the current one; an admin may reset anyone's
// (oldPassword ignored). Live sessions are not ended.
func (s *Silo) ChangePassword(ctx context.Context, p Principal, userID, oldPassword, newPassword string) error {
	if err := s.check(p, ActionManageAccounts); err != nil {
		return s.denyInvalid(ctx, ActionManageAccounts, PatientID{}, err)
	}
	o := s.newOp(p, ActionManageAccounts, PatientID{})
	if validUserID(userID) {
		o.ev.Target = userID
	}
	self := p.UserID == userID
	if !self && p.Role != RoleAdmin {
		return s.run(ctx, o, func(Tx) error {
			return &DeniedError{Action: ActionManageAccounts, Role: p.Role, Reason: "not-own-account"}
		})
	}
	var current Account
	if self && p.Role != RoleAdmin {
		err := s.cfg.Backend.Update(ctx, func(tx Tx) error {
			a, err := tx.Account(ctx, s.cfg.Tenant, userID)
			current = a
			return err
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		release, kerr := s.kdfSlot(ctx)
		if kerr != nil {
			return kerr
		}
		ok := err == nil && CheckPassword(current.PasswordHash, oldPassword)
		release()
		if !ok {
			return s.run(ctx, o, func(Tx) error { return fmt.Errorf("phisilo: change password: %w", ErrUnauthenticated) })
		}
	}
	fresh, herr := s.newAccount(ctx, userID, RoleAdmin, PatientID{}, newPassword)
	if herr != nil && !domainError(herr) {
		return herr
	}
	return s.run(ctx, o, func(tx Tx) error {
		if p.Role == RoleAdmin {
			if _, err := s.authorize(ctx, tx, o, p, ActionManageAccounts, PatientID{}, ""); err != nil {
				return err
			}
		}
		if herr != nil {
			return herr
		}
		a, err := tx.Account(ctx, s.cfg.Tenant, userID)
		if err != nil {
			return err
		}
		if self && p.Role != RoleAdmin && a.PasswordHash != current.PasswordHash {
			return fmt.Errorf("phisilo: change password: %w", ErrUnauthenticated)
		}
		a.PasswordHash = fresh.PasswordHash
		return tx.PutAccount(ctx, a)
	})
}

// dummyHash is checked against when the user does not exist, so a login
// for an unknown user costs the same as one with a wrong password.
func (s *Silo) dummyHash() string {
	return "pbkdf2-sha256$" + strconv.Itoa(s.cfg.PasswordIterations) + "$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
}

// Login checks a user's password and opens a session. It returns the
// session token (give it to the client; the silo stores only its hash) and
// the principal. Every failure returns [ErrUnauthenticated] and is audited.
// After repeated failures for the user ID or from the source (see
// [LoginThrottle]) attempts fail with a [ThrottledError] ([ErrThrottled])
// until the lockout ends; those are audited too (reason "throttled").
func (s *Silo) Login(ctx context.Context, c Credentials, purpose Purpose, source string) (string, Principal, error) {
	if len(source) > 256 {
		source = source[:256]
	}
	o := s.newOp(Principal{UserID: "(unknown)", Purpose: purpose, Source: source}, ActionLogin, PatientID{})
	if validUserID(c.UserID) {
		o.ev.UserID = c.UserID
	}
	if !purpose.valid() {
		o.ev.Purpose = ""
	}
	var tok [32]byte
	if _, err := io.ReadFull(s.cfg.Rand, tok[:]); err != nil {
		return "", Principal{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(tok[:])
	th := sha256.Sum256([]byte(token))
	fail := fmt.Errorf("phisilo: login: %w", ErrUnauthenticated)
	// Throttle before any lookup or password check: a locked-out account
	// or source gets the same answer whether or not the account exists.
	akey, skey := s.thr.keys(s.cfg.Tenant, c.UserID, source)
	if wait := s.thr.locked(s.now(), akey, skey); wait > 0 {
		return "", Principal{}, s.run(ctx, o, func(Tx) error { return &ThrottledError{RetryAfter: wait} })
	}
	// Read the account, then check the password outside any transaction
	// (PBKDF2 would otherwise hold the backend's write lock).
	var acct Account
	var lookup error
	if validUserID(c.UserID) && len(c.Password) <= MaxPasswordBytes {
		lookup = s.cfg.Backend.Update(ctx, func(tx Tx) error {
			a, err := tx.Account(ctx, s.cfg.Tenant, c.UserID)
			acct = a
			return err
		})
		if lookup != nil && !errors.Is(lookup, ErrNotFound) {
			return "", Principal{}, lookup
		}
	} else {
		lookup = ErrNotFound
	}
	release, err := s.kdfSlot(ctx)
	if err != nil {
		return "", Principal{}, err
	}
	ok := false
	if lookup == nil {
		ok = CheckPassword(acct.PasswordHash, c.Password)
	} else {
		CheckPassword(s.dummyHash(), c.Password)
	}
	release()
	var pr Principal
	err = s.run(ctx, o, func(tx Tx) error {
		if !ok {
			return fail
		}
		a, err := tx.Account(ctx, s.cfg.Tenant, c.UserID)
		if errors.Is(err, ErrNotFound) {
			return fail
		} else if err != nil {
			return err
		}
		if a.Disabled || a.PasswordHash != acct.PasswordHash { // changed since the check
			return fail
		}
		pr = Principal{UserID: a.UserID, Role: a.Role, Purpose: purpose, Patient: a.Patient, Source: source}
		o.ev.Role = a.Role
		if err := pr.validate(); err != nil {
			return fail
		}
		if _, derr := decide(pr, ActionRead, PatientID{}, nil, "", s.now()); derr != nil && derr.Reason == "purpose-of-use" {
			return fail
		}
		now := s.now()
		return tx.PutSession(ctx, Session{TokenHash: th[:], Tenant: s.cfg.Tenant, UserID: a.UserID, Purpose: purpose, Created: now, LastSeen: now})
	})
	if errors.Is(err, ErrUnauthenticated) {
		s.thr.fail(s.now(), akey, skey)
	}
	if err != nil {
		return "", Principal{}, err
	}
	s.thr.succeed(akey)
	return token, pr, nil
}

// MaxTokenBytes bounds a session token an attacker can send.
const MaxTokenBytes = 128

// Session resolves a session token to its principal and records the use.
// A session unused for SessionIdleTimeout, or older than SessionMaxAge, is
// deleted and answers [ErrUnauthenticated]; so does a disabled account.
// Successful lookups are not audited (the action they enable is).
func (s *Silo) Session(ctx context.Context, token, source string) (Principal, error) {
	fail := fmt.Errorf("phisilo: session: %w", ErrUnauthenticated)
	if token == "" || len(token) > MaxTokenBytes {
		return Principal{}, fail
	}
	if len(source) > 256 {
		source = source[:256]
	}
	th := sha256.Sum256([]byte(token))
	var pr Principal
	var expired bool
	err := s.cfg.Backend.Update(ctx, func(tx Tx) error {
		ss, err := tx.Session(ctx, th[:])
		if errors.Is(err, ErrNotFound) || err == nil && ss.Tenant != s.cfg.Tenant {
			return fail
		} else if err != nil {
			return err
		}
		now := s.now()
		if now.Sub(ss.LastSeen) >= s.cfg.SessionIdleTimeout || now.Sub(ss.Created) >= s.cfg.SessionMaxAge {
			expired = true
			return tx.DeleteSession(ctx, th[:])
		}
		a, err := tx.Account(ctx, s.cfg.Tenant, ss.UserID)
		if errors.Is(err, ErrNotFound) || err == nil && a.Disabled {
			expired = true
			return tx.DeleteSession(ctx, th[:])
		} else if err != nil {
			return err
		}
		ss.LastSeen = now
		pr = Principal{UserID: a.UserID, Role: a.Role, Purpose: ss.Purpose, Patient: a.Patient, Source: source}
		return tx.PutSession(ctx, ss)
	})
	if err != nil {
		return Principal{}, err
	}
	if expired {
		return Principal{}, fail
	}
	return pr, nil
}

// Logout ends a session. Unknown tokens are not an error.
func (s *Silo) Logout(ctx context.Context, token string) error {
	if token == "" || len(token) > MaxTokenBytes {
		return nil
	}
	th := sha256.Sum256([]byte(token))
	return s.cfg.Backend.Update(ctx, func(tx Tx) error {
		ss, err := tx.Session(ctx, th[:])
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if err := tx.DeleteSession(ctx, th[:]); err != nil {
			return err
		}
		body := AuditEvent{Time: s.now(), Tenant: s.cfg.Tenant, UserID: ss.UserID, Action: ActionLogout, Outcome: OutcomeSuccess, Purpose: ss.Purpose}
		if a, err := tx.Account(ctx, s.cfg.Tenant, ss.UserID); err == nil {
			body.Role = a.Role
		}
		return s.appendAudit(ctx, tx, body)
	})
}
