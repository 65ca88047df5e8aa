package phisilo

import (
	"context"
	"time"
)

// Backend stores what the silo persists: sealed records, wrapped data keys,
// grants, accounts, sessions and the audit chain. It never sees plaintext
// PHI or an unwrapped key. Implementations live in subpackages (memory,
// sqlite, postgres) and must pass the phisilotest conformance suite.
//
// Implementations must be safe for concurrent use by many goroutines and,
// for shared databases, by many processes.
type Backend interface {
	// Update runs fn in one read-write transaction: if fn returns an error,
	// or the process dies before Update returns, none of its writes persist.
	// Transactions that append audit entries are serialized on the chain.
	// Update may run fn a second time (after rolling back the first run),
	// e.g. when another process moved the chain head, so fn must not
	// have effects outside the transaction that a rerun would duplicate.
	Update(ctx context.Context, fn func(Tx) error) error
	// Audit returns up to limit audit entries with Seq > after, in order.
	Audit(ctx context.Context, after uint64, limit int) ([]AuditEntry, error)
	// Checkpoints returns the signed checkpoints with Seq > after, in order.
	Checkpoints(ctx context.Context, after uint64, limit int) ([]Checkpoint, error)
	// Close releases the backend.
	Close() error
}

// Tx is one transaction of a [Backend]. Methods return [ErrNotFound] for a
// missing row. A Tx must not be used after its Update returns.
type Tx interface {
	Record(ctx context.Context, tenant string, p PatientID) (SealedRecord, error)
	PutRecord(ctx context.Context, r SealedRecord) error // insert or replace
	DeleteRecord(ctx context.Context, tenant string, p PatientID) error

	Key(ctx context.Context, tenant string, p PatientID) (WrappedKey, error)
	PutKey(ctx context.Context, k WrappedKey) error // insert or replace
	DeleteKey(ctx context.Context, tenant string, p PatientID) error
	// KeysBelow returns up to limit keys (any tenant) with KEKVersion < version.
	KeysBelow(ctx context.Context, version uint32, limit int) ([]WrappedKey, error)

	Grants(ctx context.Context, tenant string, p PatientID) ([]Grant, error)
	PutGrant(ctx context.Context, tenant string, g Grant) error // insert or replace by ID
	DeleteGrants(ctx context.Context, tenant string, p PatientID) error
	// GrantsTo returns every grant of tenant (active or not) whose Grantee
	// is grantee, ordered by ID. SQL backends index it.
	GrantsTo(ctx context.Context, tenant, grantee string) ([]Grant, error)
	// PatientIDs lists up to limit patients of tenant that have a data
	// key, with ID > after in byte order, ordered.
	PatientIDs(ctx context.Context, tenant string, after PatientID, limit int) ([]PatientID, error)

	Account(ctx context.Context, tenant, userID string) (Account, error)
	PutAccount(ctx context.Context, a Account) error // insert or replace
	DeleteAccount(ctx context.Context, tenant, userID string) error
	// Accounts lists up to limit accounts of tenant with UserID > after,
	// ordered by UserID.
	Accounts(ctx context.Context, tenant, after string, limit int) ([]Account, error)

	Session(ctx context.Context, tokenHash []byte) (Session, error)
	PutSession(ctx context.Context, s Session) error // insert or replace
	DeleteSession(ctx context.Context, tokenHash []byte) error

	// AppendAudit appends body to the chain: Seq is the last Seq + 1
	// (1 for the first), Prev the last Hash (32 zero bytes for the first)
	// and Hash = [ChainHash](Prev, Seq, body).
	AppendAudit(ctx context.Context, body []byte) (AuditEntry, error)
	PutCheckpoint(ctx context.Context, c Checkpoint) error
}

// RecordKeyer is an optional [Tx] method: a patient's sealed record and
// wrapped data key in one read (one round trip on a network database).
// It returns [ErrNotFound] if either is missing.
type RecordKeyer interface {
	RecordAndKey(ctx context.Context, tenant string, p PatientID) (SealedRecord, WrappedKey, error)
}

// SealedRecord is a record as stored: AES-256-GCM ciphertext under the
// patient's data key.
type SealedRecord struct {
	Tenant     string
	Patient    PatientID
	Schema     uint16
	Ciphertext []byte
	Updated    time.Time
}

// WrappedKey is a patient's data key wrapped under a KEK version.
type WrappedKey struct {
	Tenant     string
	Patient    PatientID
	KEKVersion uint32
	Wrapped    []byte
}

// Account is a user who can log in. PasswordHash is a PBKDF2 string from
// [HashPassword]; it never leaves the silo.
type Account struct {
	Tenant       string
	UserID       string
	Role         Role
	Patient      PatientID // for RolePatient
	PasswordHash string
	Disabled     bool
	Created      time.Time
}

// Session is a logged-in session, stored under the SHA-256 of its token.
type Session struct {
	TokenHash []byte
	Tenant    string
	UserID    string
	Purpose   Purpose
	Created   time.Time
	LastSeen  time.Time
}

// AuditEntry is one link of the hash chain. Body is the JSON of an
// [AuditEvent].
type AuditEntry struct {
	Seq  uint64
	Prev []byte
	Hash []byte
	Body []byte
}

// Checkpoint is a signed statement of the chain head at Seq: a JWS compact
// serialization whose payload is [CheckpointPayload] JSON.
type Checkpoint struct {
	Seq uint64
	JWS string
}
