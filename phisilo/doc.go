// Package phisilo is the PHI silo: the only place in an openiomt
// deployment where a patient's identity lives, and the only place readings
// (keyed by a random [PatientID]) can be joined to a person.
//
// A [Silo] is a service over a pluggable [Backend] (memory, SQLite,
// PostgreSQL in subpackages) and a [KeyManager]. Every method takes a
// [Principal] — who, in which [Role], for which [Purpose] of use, from
// where — and every call, allowed or denied, appends an [AuditEvent] to a
// hash-chained log in the same backend transaction as the access.
//
// # Encryption
//
// Each patient has a 256-bit data key. The [Record] is sealed with
// AES-256-GCM under it, with associated data binding the tenant, the
// patient ID and [SchemaVersion], so a ciphertext moved to another row does
// not decrypt. The data key is wrapped by the key-encryption key (KEK) of
// the KeyManager with the tenant and patient ID as associated data (tink's
// KMS envelope AEAD wraps with empty associated data; the binding is done
// here). The backend sees only ciphertext and wrapped keys.
//
// [Keyset] is the embedded KEK: a tink AES-256-GCM keyset file, optionally
// encrypted under a master [tink.AEAD] from a KMS. [AEADKeyManager] uses any
// tink.AEAD (AWS KMS, GCP KMS, Vault) directly as the KEK. Rotation adds a
// new primary version while old versions still decrypt; [Silo.Rewrap]
// rewraps rows under old versions; [Keyset.SetMinVersion] retires them.
//
// Deleting a patient ([Silo.Delete]) deletes the only wrapped copy of the
// data key: any surviving copy of the ciphertext (a backup, a stolen disk)
// is unreadable, even to someone holding the KEK. This is crypto-shredding.
//
// # Access policy
//
// Deny by default. Patients read, update, delete and share their own
// record and read the audit of accesses to it. Clinicians and caregivers
// read only the sections a patient's active [Grant] names (time-limited,
// revocable). Support staff see only the [DeidentifiedRecord] (HIPAA Safe
// Harbor). Admins manage accounts and read the audit log, never clinical
// content. A clinician acting for emergency treatment may break the glass
// ([Silo.BreakGlass]) with a mandatory reason; the access is audited as an
// alert. [Silo.Patients] lists what a principal may open under the same
// rules (own record, active grants, or de-identified for support).
//
// # Audit
//
// Entry n stores Hash = [ChainHash](Hash of entry n-1, n, body). Every
// CheckpointEvery entries the silo signs the chain head as a JWS
// ([Checkpoint]). [VerifyAudit] recomputes the chain, checks every
// checkpoint and names the first bad entry in an [AuditVerifyError]: an
// edited, deleted, inserted or reordered row is found, and a rewrite that
// recomputes the hashes is caught at the next checkpoint. Export with
// [ExportAudit] as JSON lines, FHIR R4 AuditEvent or CEF.
//
// # Accounts and sessions
//
// Accounts hold PBKDF2-HMAC-SHA256 password hashes. [Silo.Login] returns a
// random session token (only its hash is stored); [Silo.Session] enforces
// an idle timeout (automatic logoff) and an absolute timeout. Failed logins
// are throttled per user ID and per source with doubling lockouts
// ([LoginThrottle], [ErrThrottled]); every attempt is audited.
//
// # Errors
//
// Errors wrap sentinels ([ErrDenied], [ErrNotFound], [ErrDecrypt], …) and
// never contain PHI; [Record], [Principal] and [Credentials] redact
// themselves in slog output.
//
// # Concurrency
//
// A Silo and the provided backends and key managers are safe for
// concurrent use. Silo holds no per-patient state in memory, so any number
// of processes may share one PostgreSQL backend (login throttling counters
// are per process). Concurrent calls share backend transactions (group
// commit): one leader runs the queued calls and their audit entries in one
// transaction and commits once; each call returns only after that commit,
// so an audited read shares an fsync with its neighbours but never returns
// PHI before its audit entry is durable.
package phisilo
