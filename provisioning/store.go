package provisioning

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openiomt/sdk/internal/atomicfile"
	"github.com/openiomt/sdk/iomt"
)

// IdentityStore persists a device's [Identity]. A file-backed store is
// [FileStore]; a secure element or TPM backs it by implementing this
// interface with Load returning a crypto.Signer whose private key stays in the
// chip and Save persisting everything except the key.
//
// Implementations must make Save atomic: after a crash, Load returns either
// the old or the new identity, never a mix.
type IdentityStore interface {
	// Load returns the stored identity, or an error wrapping [ErrNoIdentity]
	// when none was saved yet.
	Load(ctx context.Context) (*Identity, error)
	// Save replaces the stored identity.
	Save(ctx context.Context, id *Identity) error
}

// MaxIdentityFileSize bounds the identity file FileStore reads.
const MaxIdentityFileSize = 64 << 10

// FileStore is an [IdentityStore] keeping the identity in one JSON file,
// identity.json, inside Dir: key as PKCS #8 PEM, chain as PEM. Dir is created
// with mode 0700 and the file written with mode 0600, through a temporary file
// that is synced and renamed, so a crash never leaves a torn identity.
//
// A FileStore is safe for concurrent Load calls; concurrent Save calls on the
// same directory are not coordinated (the last rename wins).
type FileStore struct {
	// Dir is the directory holding identity.json. It must not be empty.
	Dir string
}

var _ IdentityStore = (*FileStore)(nil)

type identityFile struct {
	V             int    `json:"v"`
	Device        string `json:"device"`
	Patient       string `json:"patient,omitempty"`
	BrokerURL     string `json:"broker_url,omitempty"`
	EnrollmentURL string `json:"enrollment_url,omitempty"`
	KeyPEM        string `json:"key_pem"`
	ChainPEM      string `json:"chain_pem,omitempty"`
}

const identityFileName = "identity.json"

// Load implements [IdentityStore].
func (s *FileStore) Load(ctx context.Context) (*Identity, error) {
	const op = "identity store"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.Dir == "" {
		return nil, newErr(op, "dir", ErrInvalidConfig)
	}
	f, err := os.Open(filepath.Join(s.Dir, identityFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, newErr(op, "", ErrNoIdentity)
	}
	if err != nil {
		return nil, newErr(op, "", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxIdentityFileSize+1))
	if err != nil {
		return nil, newErr(op, "", err)
	}
	if len(b) > MaxIdentityFileSize {
		return nil, newErr(op, "", ErrTooLarge)
	}
	var v identityFile
	if err := json.Unmarshal(b, &v); err != nil || v.V != 1 {
		return nil, newErr(op, "", ErrMalformed)
	}
	id := &Identity{BrokerURL: v.BrokerURL, EnrollmentURL: v.EnrollmentURL}
	if id.Device, err = iomt.ParseDeviceID(v.Device); err != nil {
		return nil, newErr(op, "device", ErrMalformed)
	}
	if v.Patient != "" {
		if id.Patient, err = iomt.ParsePatientID(v.Patient); err != nil {
			return nil, newErr(op, "patient", ErrMalformed)
		}
	}
	if id.Key, err = ParsePrivateKeyPEM([]byte(v.KeyPEM)); err != nil {
		return nil, newErr(op, "key", err)
	}
	if v.ChainPEM != "" {
		if id.Chain, err = ParseCertificatesPEM([]byte(v.ChainPEM)); err != nil {
			return nil, newErr(op, "chain", err)
		}
	}
	return id, nil
}

// Save implements [IdentityStore]. The key must be an exportable
// *ecdsa.PrivateKey or ed25519.PrivateKey.
func (s *FileStore) Save(ctx context.Context, id *Identity) error {
	const op = "identity store"
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Dir == "" {
		return newErr(op, "dir", ErrInvalidConfig)
	}
	if id == nil || id.Device.IsZero() {
		return newErr(op, "device", iomt.ErrInvalidID)
	}
	keyPEM, err := MarshalPrivateKeyPEM(id.Key)
	if err != nil {
		return newErr(op, "key", err)
	}
	v := identityFile{V: 1, Device: id.Device.String(), BrokerURL: id.BrokerURL,
		EnrollmentURL: id.EnrollmentURL, KeyPEM: string(keyPEM), ChainPEM: string(MarshalCertificatesPEM(id.Chain))}
	if !id.Patient.IsZero() {
		v.Patient = id.Patient.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return newErr(op, "", err)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return newErr(op, "", err)
	}
	return WriteFileAtomic(filepath.Join(s.Dir, identityFileName), b, 0o600)
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory that is synced, chmod-ed to perm and renamed over path; the
// directory is synced afterwards. Readers see the old or the new content,
// never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.WriteFile(path, data, perm)
}

// MarshalPrivateKeyPEM encodes an *ecdsa.PrivateKey or ed25519.PrivateKey as
// a PKCS #8 "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, ErrUnsupportedKey
	}
	if err := checkDeviceKey(key.Public()); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, ErrUnsupportedKey
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes one PKCS #8 "PRIVATE KEY" PEM block holding an
// ECDSA P-256 or Ed25519 key.
func ParsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, ErrMalformed
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, ErrMalformed
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, ErrUnsupportedKey
	}
	if err := checkDeviceKey(s.Public()); err != nil {
		return nil, err
	}
	return s, nil
}

// MarshalCertificatesPEM encodes certs as consecutive CERTIFICATE PEM blocks.
func MarshalCertificatesPEM(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// MaxChainLength bounds the certificates ParseCertificatesPEM accepts.
const MaxChainLength = 8

// ParseCertificatesPEM decodes up to [MaxChainLength] CERTIFICATE PEM blocks.
// Any other block type, trailing garbage or zero certificates fail with
// [ErrMalformed].
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, ErrMalformed
		}
		if len(out) == MaxChainLength {
			return nil, ErrTooLarge
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, ErrMalformed
		}
		out = append(out, c)
	}
	if len(out) == 0 || len(trimSpace(b)) != 0 {
		return nil, ErrMalformed
	}
	return out, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
