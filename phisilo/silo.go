package phisilo

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Config configures a [Silo]. New copies it; changing it afterwards has no
// effect.
type Config struct {
	// Backend stores sealed records and the audit chain. Required.
	Backend Backend
	// Keys wraps per-patient data keys. Required.
	Keys KeyManager
	// Tenant separates silos sharing one backend; it is bound into every
	// ciphertext. Empty means "default". At most 64 bytes.
	Tenant string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness source for keys, nonces, IDs and tokens; nil
	// means crypto/rand.Reader.
	Rand io.Reader
	// Logger receives operational messages (never PHI); nil discards them.
	Logger *slog.Logger
	// CheckpointKey signs audit checkpoints (Ed25519 or ECDSA P-256). Nil
	// disables checkpoints; the hash chain is still kept.
	CheckpointKey crypto.Signer
	// CheckpointEvery signs a checkpoint after every that many entries;
	// zero means 1000.
	CheckpointEvery uint64
	// PasswordIterations is the PBKDF2-HMAC-SHA256 iteration count for new
	// password hashes; zero means 600000 (OWASP 2023).
	PasswordIterations int
	// SessionIdleTimeout logs a session off after that long without use
	// (automatic logoff, 164.312(a)(2)(iii)); zero means 15 minutes.
	SessionIdleTimeout time.Duration
	// SessionMaxAge ends a session that long after login whatever its use;
	// zero means 12 hours.
	SessionMaxAge time.Duration
	// MaxConcurrentPasswordChecks bounds how many PBKDF2 computations
	// (logins, new passwords) run at once, so a flood of login attempts
	// cannot take every CPU; further callers wait (honouring their
	// context). Zero means 4.
	MaxConcurrentPasswordChecks int
	// LoginThrottle throttles failed logins per account and per source;
	// the zero value means the defaults documented on [LoginThrottle].
	LoginThrottle LoginThrottle
}

// Silo is the PHI silo service: it encrypts records under per-patient data
// keys, enforces the access policy on every call and appends an audit
// event for every access, allowed or denied, in the same backend
// transaction as the access. A Silo is safe for concurrent use.
type Silo struct {
	cfg Config
	log *slog.Logger
	kdf chan struct{} // semaphore for password hashing
	seq sequencer     // group commit of audited calls
	thr *throttle     // failed-login throttling
}

// New validates cfg and returns a Silo.
func New(cfg Config) (*Silo, error) {
	if cfg.Backend == nil {
		return nil, &FieldError{Field: "Config.Backend", Reason: "required"}
	}
	if cfg.Keys == nil {
		return nil, &FieldError{Field: "Config.Keys", Reason: "required"}
	}
	if cfg.Tenant == "" {
		cfg.Tenant = "default"
	}
	if len(cfg.Tenant) > 64 || checkText("Config.Tenant", cfg.Tenant) != nil {
		return nil, &FieldError{Field: "Config.Tenant", Reason: "at most 64 printable bytes"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = 1000
	}
	if cfg.CheckpointKey != nil {
		if _, err := signatureAlg(cfg.CheckpointKey.Public()); err != nil {
			return nil, err
		}
	}
	if cfg.PasswordIterations == 0 {
		cfg.PasswordIterations = 600000
	}
	if cfg.SessionIdleTimeout == 0 {
		cfg.SessionIdleTimeout = 15 * time.Minute
	}
	if cfg.SessionMaxAge == 0 {
		cfg.SessionMaxAge = 12 * time.Hour
	}
	if cfg.MaxConcurrentPasswordChecks <= 0 {
		cfg.MaxConcurrentPasswordChecks = 4
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lanes := 1
	if l, ok := cfg.Backend.(CommitLaner); ok && l.CommitLanes() > 1 {
		lanes = min(l.CommitLanes(), 64)
	}
	return &Silo{cfg: cfg, log: log, kdf: make(chan struct{}, cfg.MaxConcurrentPasswordChecks), seq: sequencer{lanes: lanes},
		thr: &throttle{cfg: cfg.LoginThrottle.withDefaults(), m: map[string]*throttleEntry{}}}, nil
}

// Tenant returns the silo's tenant.
func (s *Silo) Tenant() string { return s.cfg.Tenant }

// Backend returns the silo's backend (for audit verification and export).
func (s *Silo) Backend() Backend { return s.cfg.Backend }

func (s *Silo) now() time.Time { return s.cfg.Now().UTC() }

// op is one audited operation: the event, filled in as it proceeds.
type op struct {
	ev     AuditEvent
	result error // the domain result returned to the caller after commit
}

func (s *Silo) newOp(p Principal, a Action, patient PatientID) *op {
	ev := AuditEvent{Time: s.now(), Tenant: s.cfg.Tenant, UserID: p.UserID, Role: p.Role, Action: a,
		Purpose: p.Purpose, Source: p.Source}
	if !patient.IsZero() {
		ev.Patient = patient.String()
	}
	return &op{ev: ev}
}

// domainError reports whether err is an outcome to audit and commit (as
// opposed to a storage failure that aborts the transaction).
func domainError(err error) bool {
	for _, e := range []error{ErrDenied, ErrNotFound, ErrExists, ErrInvalid, ErrTooLarge, ErrDecrypt, ErrKeyRetired, ErrUnauthenticated, ErrThrottled} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func reasonOf(err error) string {
	var de *DeniedError
	switch {
	case errors.As(err, &de):
		return de.Reason
	case errors.Is(err, ErrNotFound):
		return "not-found"
	case errors.Is(err, ErrExists):
		return "exists"
	case errors.Is(err, ErrKeyRetired):
		return "key-retired"
	case errors.Is(err, ErrDecrypt):
		return "decrypt"
	case errors.Is(err, ErrTooLarge):
		return "too-large"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrUnauthenticated):
		return "unauthenticated"
	case errors.Is(err, ErrThrottled):
		return "throttled"
	}
	return "error"
}

// run executes body in a transaction and appends o's event in the same
// transaction. A domain error from body is audited and committed, then
// returned; any other error rolls everything back. Concurrent calls share
// transactions through the group-commit sequencer (batch.go); run returns
// only after o's transaction committed.
func (s *Silo) run(ctx context.Context, o *op, body func(tx Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.submit(&pending{ctx: ctx, o: o, ev: o.ev, body: body, done: make(chan result, 1)})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "phisilo: transaction failed", slog.String("action", string(o.ev.Action)), slog.String("error", err.Error()))
		return err
	}
	if o.ev.Alert {
		// Like iomt.PatientID's LogValue: a short prefix, enough to find the
		// full event in the audit log.
		short := o.ev.Patient
		if len(short) > 8 {
			short = short[:8] + "…"
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "phisilo: break-glass access", slog.String("user", o.ev.UserID), slog.String("patient", short))
	}
	return o.result
}

func (s *Silo) appendAudit(ctx context.Context, tx Tx, ev AuditEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	e, err := tx.AppendAudit(ctx, body)
	if err != nil {
		return err
	}
	if s.cfg.CheckpointKey != nil && e.Seq%s.cfg.CheckpointEvery == 0 {
		c, err := SignCheckpoint(s.cfg.CheckpointKey, e, s.now())
		if err != nil {
			return err
		}
		return tx.PutCheckpoint(ctx, c)
	}
	return nil
}

// check validates the principal; an invalid principal is audited as denied
// with the principal's fields blanked (they may be hostile).
func (s *Silo) check(p Principal, a Action) error {
	if a == ActionRegister && p.Role == RolePatient && p.Patient.IsZero() {
		p.Patient[6] = 0x40 // self-registration: no patient yet
	}
	if err := p.validate(); err != nil {
		return &DeniedError{Action: a, Role: p.Role, Reason: "invalid-principal"}
	}
	return nil
}

// denyInvalid audits a call from an invalid principal.
func (s *Silo) denyInvalid(ctx context.Context, a Action, patient PatientID, derr error) error {
	o := s.newOp(Principal{UserID: "(invalid)", Role: "", Purpose: ""}, a, patient)
	return s.run(ctx, o, func(Tx) error { return derr })
}

func (s *Silo) authorize(ctx context.Context, tx Tx, o *op, p Principal, a Action, patient PatientID, reason string) (decision, error) {
	var grants []Grant
	if (p.Role == RoleClinician || p.Role == RoleCaregiver) && a == ActionRead {
		var err error
		if grants, err = tx.Grants(ctx, s.cfg.Tenant, patient); err != nil {
			return decision{}, err
		}
	}
	d, derr := decide(p, a, patient, grants, reason, s.now())
	if derr != nil {
		return d, derr
	}
	o.ev.GrantID = d.grantID
	o.ev.Alert = d.alert
	return d, nil
}

// Register stores a new patient's record under a fresh random patient ID
// and a fresh data key, and returns the ID. With login non-nil it also
// creates the patient's account in the same transaction.
//
// Patients register themselves (Principal.Patient zero) and clinicians
// register patients; other roles are denied.
func (s *Silo) Register(ctx context.Context, p Principal, rec Record, login *Credentials) (PatientID, error) {
	if err := s.check(p, ActionRegister); err != nil {
		return PatientID{}, s.denyInvalid(ctx, ActionRegister, PatientID{}, err)
	}
	id, err := NewPatientID(s.cfg.Rand)
	if err != nil {
		return PatientID{}, err
	}
	o := s.newOp(p, ActionRegister, id)
	var acct Account
	if login != nil {
		if acct, err = s.newAccount(ctx, login.UserID, RolePatient, id, login.Password); err != nil {
			o.ev.Patient = ""
			return PatientID{}, s.run(ctx, o, func(Tx) error { return err })
		}
		o.ev.Target = login.UserID
	}
	err = s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionRegister, id, ""); err != nil {
			return err
		}
		if err := rec.Validate(); err != nil {
			return err
		}
		if login != nil {
			if _, err := tx.Account(ctx, s.cfg.Tenant, acct.UserID); err == nil {
				return fmt.Errorf("phisilo: account: %w", ErrExists)
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		dek := make([]byte, dataKeySize)
		defer clear(dek)
		if _, err := io.ReadFull(s.cfg.Rand, dek); err != nil {
			return fmt.Errorf("phisilo: data key: %w", err)
		}
		wrapped, err := s.cfg.Keys.Wrap(ctx, dek, keyAD(s.cfg.Tenant, id))
		if err != nil {
			return err
		}
		v, err := WrappedKeyVersion(wrapped)
		if err != nil {
			return err
		}
		sealed, err := s.sealRecord(dek, id, rec)
		if err != nil {
			return err
		}
		if err := tx.PutKey(ctx, WrappedKey{Tenant: s.cfg.Tenant, Patient: id, KEKVersion: v, Wrapped: wrapped}); err != nil {
			return err
		}
		if err := tx.PutRecord(ctx, sealed); err != nil {
			return err
		}
		if login != nil {
			return tx.PutAccount(ctx, acct)
		}
		return nil
	})
	if err != nil {
		return PatientID{}, err
	}
	return id, nil
}

func (s *Silo) sealRecord(dek []byte, id PatientID, rec Record) (SealedRecord, error) {
	pt, err := json.Marshal(rec)
	if err != nil {
		return SealedRecord{}, fmt.Errorf("phisilo: encode record: %w", ErrInvalid)
	}
	defer clear(pt)
	if len(pt) > MaxRecordBytes {
		return SealedRecord{}, &LimitError{Limit: "MaxRecordBytes", Max: MaxRecordBytes}
	}
	ct, err := seal(s.cfg.Rand, dek, pt, recordAD(s.cfg.Tenant, id, SchemaVersion))
	if err != nil {
		return SealedRecord{}, err
	}
	return SealedRecord{Tenant: s.cfg.Tenant, Patient: id, Schema: SchemaVersion, Ciphertext: ct, Updated: s.now()}, nil
}

// dataKey unwraps the patient's data key.
func (s *Silo) dataKey(ctx context.Context, tx Tx, id PatientID) ([]byte, error) {
	wk, err := tx.Key(ctx, s.cfg.Tenant, id)
	if err != nil {
		return nil, err
	}
	return s.cfg.Keys.Unwrap(ctx, wk.Wrapped, keyAD(s.cfg.Tenant, id))
}

func (s *Silo) openRecord(ctx context.Context, tx Tx, id PatientID) (Record, error) {
	var sr SealedRecord
	var dek []byte
	if rk, ok := tx.(RecordKeyer); ok {
		r, wk, err := rk.RecordAndKey(ctx, s.cfg.Tenant, id)
		if err != nil {
			return Record{}, err
		}
		sr = r
		if dek, err = s.cfg.Keys.Unwrap(ctx, wk.Wrapped, keyAD(s.cfg.Tenant, id)); err != nil {
			return Record{}, err
		}
	} else {
		r, err := tx.Record(ctx, s.cfg.Tenant, id)
		if err != nil {
			return Record{}, err
		}
		sr = r
		if dek, err = s.dataKey(ctx, tx, id); err != nil {
			return Record{}, err
		}
	}
	defer clear(dek)
	pt, err := open(dek, sr.Ciphertext, recordAD(s.cfg.Tenant, id, sr.Schema))
	if err != nil {
		return Record{}, err
	}
	defer clear(pt)
	var rec Record
	if err := json.Unmarshal(pt, &rec); err != nil {
		return Record{}, fmt.Errorf("phisilo: decode record: %w", ErrDecrypt)
	}
	return rec, nil
}

// Get returns the patient's record as p may see it: the whole record for
// the patient, the granted sections for a clinician or caregiver holding an
// active grant. Everyone else is denied ([ErrDenied]).
func (s *Silo) Get(ctx context.Context, p Principal, id PatientID) (Record, error) {
	if err := s.check(p, ActionRead); err != nil {
		return Record{}, s.denyInvalid(ctx, ActionRead, id, err)
	}
	var out Record
	o := s.newOp(p, ActionRead, id)
	err := s.run(ctx, o, func(tx Tx) error {
		d, err := s.authorize(ctx, tx, o, p, ActionRead, id, "")
		if err != nil {
			return err
		}
		rec, err := s.openRecord(ctx, tx, id)
		if err != nil {
			return err
		}
		if d.sections != nil {
			rec = rec.Only(d.sections)
		}
		out = rec
		return nil
	})
	return out, err
}

// BreakGlass gives a clinician acting for emergency treatment
// (PurposeEmergency) the whole record without a grant. The reason is
// mandatory (at least 10 bytes, no PHI) and the access is audited as an
// alert.
func (s *Silo) BreakGlass(ctx context.Context, p Principal, id PatientID, reason string) (Record, error) {
	if err := s.check(p, ActionBreakGlass); err != nil {
		return Record{}, s.denyInvalid(ctx, ActionBreakGlass, id, err)
	}
	o := s.newOp(p, ActionBreakGlass, id)
	if len(reason) > 512 || checkText("reason", reason) != nil {
		return Record{}, s.run(ctx, o, func(Tx) error { return &FieldError{Field: "reason", Reason: "at most 512 printable bytes"} })
	}
	o.ev.Justification = reason
	var out Record
	err := s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionBreakGlass, id, reason); err != nil {
			return err
		}
		rec, err := s.openRecord(ctx, tx, id)
		out = rec
		return err
	})
	return out, err
}

// Update replaces the patient's record. Only the patient may.
func (s *Silo) Update(ctx context.Context, p Principal, id PatientID, rec Record) error {
	if err := s.check(p, ActionUpdate); err != nil {
		return s.denyInvalid(ctx, ActionUpdate, id, err)
	}
	o := s.newOp(p, ActionUpdate, id)
	return s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionUpdate, id, ""); err != nil {
			return err
		}
		if err := rec.Validate(); err != nil {
			return err
		}
		dek, err := s.dataKey(ctx, tx, id)
		if err != nil {
			return err
		}
		defer clear(dek)
		sealed, err := s.sealRecord(dek, id, rec)
		if err != nil {
			return err
		}
		return tx.PutRecord(ctx, sealed)
	})
}

// Delete crypto-shreds the patient: the wrapped data key, the record and
// the grants are deleted in one transaction. A copy of the ciphertext
// (a backup, a stolen disk) can no longer be decrypted by anyone, even with
// the KEK, because the only wrapped copy of its data key is gone. Backends
// must not keep deleted key bytes (SQLite runs with secure_delete).
// Only the patient may delete.
func (s *Silo) Delete(ctx context.Context, p Principal, id PatientID) error {
	if err := s.check(p, ActionDelete); err != nil {
		return s.denyInvalid(ctx, ActionDelete, id, err)
	}
	o := s.newOp(p, ActionDelete, id)
	return s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionDelete, id, ""); err != nil {
			return err
		}
		if err := tx.DeleteKey(ctx, s.cfg.Tenant, id); err != nil {
			return err
		}
		if err := tx.DeleteRecord(ctx, s.cfg.Tenant, id); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return tx.DeleteGrants(ctx, s.cfg.Tenant, id)
	})
}

// Deidentified returns the Safe Harbor view of a record for support staff.
func (s *Silo) Deidentified(ctx context.Context, p Principal, id PatientID) (DeidentifiedRecord, error) {
	if err := s.check(p, ActionReadDeidentified); err != nil {
		return DeidentifiedRecord{}, s.denyInvalid(ctx, ActionReadDeidentified, id, err)
	}
	var out DeidentifiedRecord
	o := s.newOp(p, ActionReadDeidentified, id)
	err := s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionReadDeidentified, id, ""); err != nil {
			return err
		}
		rec, err := s.openRecord(ctx, tx, id)
		if err != nil {
			return err
		}
		out = Deidentify(id, rec, s.now())
		return nil
	})
	return out, err
}

// GrantRequest is what a patient asks for when sharing their record.
type GrantRequest struct {
	Grantee     string        // user ID of the clinician or caregiver
	GranteeRole Role          // RoleClinician or RoleCaregiver
	Sections    []Section     // at least one
	NotBefore   time.Time     // zero: now
	Duration    time.Duration // 1 minute .. MaxGrantDuration
}

// CreateGrant records a sharing grant from the patient. Only the patient
// may grant access to their record.
func (s *Silo) CreateGrant(ctx context.Context, p Principal, id PatientID, req GrantRequest) (Grant, error) {
	if err := s.check(p, ActionGrant); err != nil {
		return Grant{}, s.denyInvalid(ctx, ActionGrant, id, err)
	}
	o := s.newOp(p, ActionGrant, id)
	var b [16]byte
	if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
		return Grant{}, err
	}
	now := s.now()
	g := Grant{ID: hex.EncodeToString(b[:]), Patient: id, Grantee: req.Grantee, GranteeRole: req.GranteeRole,
		Sections: append([]Section(nil), req.Sections...), NotBefore: req.NotBefore.UTC(), Created: now}
	if g.NotBefore.IsZero() {
		g.NotBefore = now
	}
	g.Expires = g.NotBefore.Add(req.Duration)
	o.ev.GrantID = g.ID
	o.ev.Target = req.Grantee
	err := s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionGrant, id, ""); err != nil {
			return err
		}
		if err := validateGrant(req); err != nil {
			return err
		}
		if _, err := tx.Key(ctx, s.cfg.Tenant, id); err != nil {
			return err
		}
		existing, err := tx.Grants(ctx, s.cfg.Tenant, id)
		if err != nil {
			return err
		}
		if len(existing) >= MaxGrantsPerPatient {
			return &LimitError{Limit: "MaxGrantsPerPatient", Max: MaxGrantsPerPatient}
		}
		return tx.PutGrant(ctx, s.cfg.Tenant, g)
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

func validateGrant(req GrantRequest) error {
	if req.Grantee == "" || len(req.Grantee) > 128 || checkText("grantee", req.Grantee) != nil {
		return &FieldError{Field: "grantee", Reason: "required, at most 128 printable bytes"}
	}
	if req.GranteeRole != RoleClinician && req.GranteeRole != RoleCaregiver {
		return &FieldError{Field: "grantee_role", Reason: "must be clinician or caregiver"}
	}
	if len(req.Sections) == 0 || len(req.Sections) > len(allSections) {
		return &FieldError{Field: "sections", Reason: "at least one known section"}
	}
	for _, sec := range req.Sections {
		if !sec.valid() {
			return &FieldError{Field: "sections", Reason: "unknown section"}
		}
	}
	if req.Duration < time.Minute || req.Duration > MaxGrantDuration {
		return &FieldError{Field: "duration", Reason: "between 1 minute and MaxGrantDuration"}
	}
	return nil
}

// RevokeGrant ends a grant now. Only the patient may.
func (s *Silo) RevokeGrant(ctx context.Context, p Principal, id PatientID, grantID string) error {
	if err := s.check(p, ActionRevoke); err != nil {
		return s.denyInvalid(ctx, ActionRevoke, id, err)
	}
	o := s.newOp(p, ActionRevoke, id)
	if len(grantID) <= 64 {
		o.ev.GrantID = grantID
	}
	return s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionRevoke, id, ""); err != nil {
			return err
		}
		gs, err := tx.Grants(ctx, s.cfg.Tenant, id)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.ID == grantID {
				if g.Revoked.IsZero() {
					g.Revoked = s.now()
				}
				return tx.PutGrant(ctx, s.cfg.Tenant, g)
			}
		}
		return fmt.Errorf("phisilo: grant: %w", ErrNotFound)
	})
}

// Grants lists the patient's grants. Only the patient may.
func (s *Silo) Grants(ctx context.Context, p Principal, id PatientID) ([]Grant, error) {
	if err := s.check(p, ActionListGrants); err != nil {
		return nil, s.denyInvalid(ctx, ActionListGrants, id, err)
	}
	var out []Grant
	o := s.newOp(p, ActionListGrants, id)
	err := s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionListGrants, id, ""); err != nil {
			return err
		}
		gs, err := tx.Grants(ctx, s.cfg.Tenant, id)
		out = gs
		return err
	})
	return out, err
}

// AuditQuery selects audit records.
type AuditQuery struct {
	After   uint64    // entries with Seq > After
	Limit   int       // 1..MaxAuditQuery; zero means 100
	Patient PatientID // only events about this patient; forced for patients
}

// MaxAuditQuery bounds one audit query page.
const MaxAuditQuery = 1000

// maxAuditScan bounds how many entries one filtered query reads.
const maxAuditScan = 100000

// AuditLog returns audit records: admins see everything, patients see the
// accesses to their own record (an accounting of disclosures). The query is
// itself audited.
func (s *Silo) AuditLog(ctx context.Context, p Principal, q AuditQuery) ([]AuditRecord, error) {
	target := q.Patient
	if p.Role == RolePatient && target.IsZero() {
		target = p.Patient // a patient's query is always about themselves
	}
	if err := s.check(p, ActionQueryAudit); err != nil {
		return nil, s.denyInvalid(ctx, ActionQueryAudit, target, err)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	o := s.newOp(p, ActionQueryAudit, target)
	if q.Limit < 0 || q.Limit > MaxAuditQuery {
		return nil, s.run(ctx, o, func(Tx) error { return &LimitError{Limit: "MaxAuditQuery", Max: MaxAuditQuery} })
	}
	if _, derr := decide(p, ActionQueryAudit, target, nil, "", s.now()); derr != nil {
		return nil, s.run(ctx, o, func(Tx) error { return derr })
	}
	var out []AuditRecord
	after, scanned := q.After, 0
	for len(out) < q.Limit && scanned < maxAuditScan {
		page, err := s.cfg.Backend.Audit(ctx, after, auditPage)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			r, err := DecodeAuditEntry(e)
			if err != nil {
				return nil, err
			}
			if (target.IsZero() || r.Event.Patient == target.String()) && r.Event.Tenant == s.cfg.Tenant && len(out) < q.Limit {
				out = append(out, r)
			}
		}
		scanned += len(page)
		if len(page) < auditPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	return out, s.run(ctx, o, func(Tx) error { return nil })
}

// Checkpoint appends a "checkpoint" event and signs the chain head at it,
// whatever CheckpointEvery says. Call it on shutdown and on a timer so the
// tail of the log is covered.
func (s *Silo) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if s.cfg.CheckpointKey == nil {
		return Checkpoint{}, &FieldError{Field: "Config.CheckpointKey", Reason: "required"}
	}
	var cp Checkpoint
	err := s.cfg.Backend.Update(ctx, func(tx Tx) error {
		body, err := json.Marshal(AuditEvent{Time: s.now(), Tenant: s.cfg.Tenant, UserID: "phisilo", Role: RoleAdmin,
			Action: "checkpoint", Outcome: OutcomeSuccess, Purpose: PurposeSystemAdmin})
		if err != nil {
			return err
		}
		e, err := tx.AppendAudit(ctx, body)
		if err != nil {
			return err
		}
		if cp, err = SignCheckpoint(s.cfg.CheckpointKey, e, s.now()); err != nil {
			return err
		}
		if e.Seq%s.cfg.CheckpointEvery == 0 {
			return nil // appendAudit's rule would have signed this one too; keep one
		}
		return tx.PutCheckpoint(ctx, cp)
	})
	return cp, err
}

// CheckpointLoop calls [Silo.Checkpoint] every interval until ctx ends,
// so the tail of the log is signed even when traffic is low. It blocks:
// run it in a goroutine and cancel ctx to stop it. Failures are logged and
// retried at the next tick. It returns ctx's error.
func (s *Silo) CheckpointLoop(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return &FieldError{Field: "interval", Reason: "must be positive"}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if _, err := s.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				s.log.LogAttrs(ctx, slog.LevelError, "phisilo: checkpoint failed", slog.String("error", err.Error()))
			}
		}
	}
}

// VerifyAudit verifies the silo's audit log with the checkpoint key's
// public half. See [VerifyAudit].
func (s *Silo) VerifyAudit(ctx context.Context) (uint64, error) {
	opts := VerifyOptions{}
	if s.cfg.CheckpointKey != nil {
		opts.PublicKey = s.cfg.CheckpointKey.Public()
		opts.CheckpointEvery = s.cfg.CheckpointEvery
	}
	return VerifyAudit(ctx, s.cfg.Backend, opts)
}

// Rewrap rewraps up to batch data keys wrapped under a KEK version older
// than the primary, and returns how many it rewrapped. Run it until it
// returns 0 before raising the minimum version. Only admins may.
func (s *Silo) Rewrap(ctx context.Context, p Principal, batch int) (int, error) {
	if err := s.check(p, ActionRewrap); err != nil {
		return 0, s.denyInvalid(ctx, ActionRewrap, PatientID{}, err)
	}
	if batch <= 0 || batch > 10000 {
		batch = 500
	}
	o := s.newOp(p, ActionRewrap, PatientID{})
	n := 0
	err := s.run(ctx, o, func(tx Tx) error {
		if _, err := s.authorize(ctx, tx, o, p, ActionRewrap, PatientID{}, ""); err != nil {
			return err
		}
		primary := s.cfg.Keys.PrimaryVersion()
		keys, err := tx.KeysBelow(ctx, primary, batch)
		if err != nil {
			return err
		}
		for _, k := range keys {
			ad := keyAD(k.Tenant, k.Patient)
			dek, err := s.cfg.Keys.Unwrap(ctx, k.Wrapped, ad)
			if err != nil {
				return err
			}
			w, err := s.cfg.Keys.Wrap(ctx, dek, ad)
			clear(dek)
			if err != nil {
				return err
			}
			v, err := WrappedKeyVersion(w)
			if err != nil {
				return err
			}
			if err := tx.PutKey(ctx, WrappedKey{Tenant: k.Tenant, Patient: k.Patient, KEKVersion: v, Wrapped: w}); err != nil {
				return err
			}
			n++
		}
		o.ev.Target = fmt.Sprintf("rewrapped=%d", n)
		return nil
	})
	return n, err
}
