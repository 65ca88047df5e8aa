package provisioning

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/url"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Default and maximum validity of issued device certificates. Short
// validities limit the damage of a stolen key; devices re-enrol before
// expiry (see the enroll package).
const (
	DefaultCertificateValidity = 30 * 24 * time.Hour
	MaxCertificateValidity     = 398 * 24 * time.Hour
)

// clockSkew backdates NotBefore so that devices with slightly slow clocks
// accept a fresh certificate.
const clockSkew = 5 * time.Minute

// CAConfig configures a [CA]. The zero value issues 30-day certificates using
// time.Now and crypto/rand.
type CAConfig struct {
	// Validity of issued device certificates, and of server and service
	// certificates unless their options say otherwise; zero means
	// DefaultCertificateValidity. It must not exceed MaxCertificateValidity.
	Validity time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand supplies serial numbers and signature randomness; nil means
	// crypto/rand.
	Rand io.Reader
}

// CA is a manufacturer certificate authority that issues device certificates
// from CSRs. It is the issuing CA (root or intermediate) plus its chain up to
// the root. A CA is safe for concurrent use; its configuration is copied at
// construction and cannot change afterwards.
type CA struct {
	cert  *x509.Certificate
	key   crypto.Signer
	chain []*x509.Certificate // issuing CA first, root excluded
	cfg   CAConfig
}

// NewCA returns a CA issuing with cert and key. intermediates lists the
// certificates from cert's issuer up to, not including, the root (nil when
// cert is the root or is issued directly by it). cert must be a CA
// certificate whose public key matches key.
func NewCA(cert *x509.Certificate, key crypto.Signer, intermediates []*x509.Certificate, cfg CAConfig) (*CA, error) {
	const op = "new CA"
	if cert == nil || key == nil {
		return nil, newErr(op, "certificate", ErrInvalidConfig)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, newErr(op, "certificate", ErrInvalidConfig)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil || !bytes.Equal(pub, cert.RawSubjectPublicKeyInfo) {
		return nil, newErr(op, "key", ErrInvalidConfig)
	}
	if cfg.Validity == 0 {
		cfg.Validity = DefaultCertificateValidity
	}
	if cfg.Validity < 0 || cfg.Validity > MaxCertificateValidity {
		return nil, newErr(op, "validity", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	chain := append([]*x509.Certificate{cert}, intermediates...)
	if cert.Subject.String() == cert.Issuer.String() && len(intermediates) == 0 {
		chain = nil // a root is never sent in the chain
	}
	return &CA{cert: cert, key: key, chain: chain, cfg: cfg}, nil
}

// Certificate returns the issuing CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Chain returns the CA certificates a device sends after its own: the
// issuing CA and intermediates, without the root. Empty when the root issues
// directly.
func (ca *CA) Chain() []*x509.Certificate { return append([]*x509.Certificate(nil), ca.chain...) }

// Issue issues a device certificate for csr, which must name want (the
// device the caller authenticated, e.g. through an enrolment token). A CSR
// for any other device fails with [ErrDeviceMismatch]; a CSR that does not
// pass [ParseCSR]'s checks with [ErrInvalidCSR]. It returns the device
// certificate followed by [CA.Chain].
func (ca *CA) Issue(csrDER []byte, want iomt.DeviceID) ([]*x509.Certificate, error) {
	const op = "issue certificate"
	csr, device, err := ParseCSR(csrDER)
	if err != nil {
		return nil, err
	}
	if want.IsZero() || device != want {
		return nil, newErr(op, "device", ErrDeviceMismatch)
	}
	serial, err := randomSerial(ca.cfg.Rand)
	if err != nil {
		return nil, newErr(op, "serial", err)
	}
	now := ca.cfg.Now()
	notAfter := now.Add(ca.cfg.Validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	if !now.Before(notAfter) || now.Before(ca.cert.NotBefore) {
		return nil, newErr(op, "CA certificate", ErrExpired)
	}
	ski := sha256.Sum256(csr.RawSubjectPublicKeyInfo)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: device.String()},
		URIs:                  []*url.URL{deviceURI(device)},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(ca.cfg.Rand, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, newErr(op, "", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, newErr(op, "", err)
	}
	return append([]*x509.Certificate{leaf}, ca.chain...), nil
}

// randomSerial returns a positive 128-bit serial number.
func randomSerial(r io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // keep 127 significant bits so DER length is stable
	return new(big.Int).SetBytes(b[:]), nil
}

// CAOptions describe a CA certificate created by [CreateRootCA] or
// [CreateIntermediateCA].
type CAOptions struct {
	// Name is the subject common name, e.g. "Acme BP monitor device CA".
	Name string
	// Organization is the subject organisation; may be empty.
	Organization string
	// Validity of the CA certificate; zero means ten years for a root and
	// five years for an intermediate.
	Validity time.Duration
	// MaxPathLen limits intermediates below this CA; zero means none may
	// follow (the CA issues only device certificates). Roots that sign
	// intermediates need 1.
	MaxPathLen int
	// Now and Rand as in CAConfig; nil means time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// CreateRootCA returns a self-signed root CA certificate for key.
func CreateRootCA(key crypto.Signer, opts CAOptions) (*x509.Certificate, error) {
	if opts.Validity == 0 {
		opts.Validity = 10 * 365 * 24 * time.Hour
	}
	return createCA(key, nil, nil, opts)
}

// CreateIntermediateCA returns an intermediate CA certificate for pub signed
// by parent's CA key.
func CreateIntermediateCA(parent *CA, pub crypto.PublicKey, opts CAOptions) (*x509.Certificate, error) {
	if parent == nil {
		return nil, newErr("create CA", "parent", ErrInvalidConfig)
	}
	if opts.Validity == 0 {
		opts.Validity = 5 * 365 * 24 * time.Hour
	}
	return createCA(nil, pub, parent, opts)
}

func createCA(key crypto.Signer, pub crypto.PublicKey, parent *CA, opts CAOptions) (*x509.Certificate, error) {
	const op = "create CA"
	if opts.Name == "" || opts.Validity < 0 || opts.MaxPathLen < 0 {
		return nil, newErr(op, "options", ErrInvalidConfig)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if key != nil {
		pub = key.Public()
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, newErr(op, "key", ErrUnsupportedKey)
	}
	serial, err := randomSerial(opts.Rand)
	if err != nil {
		return nil, newErr(op, "serial", err)
	}
	ski := sha256.Sum256(spki)
	now := opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.Name},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            opts.MaxPathLen,
		MaxPathLenZero:        opts.MaxPathLen == 0,
		SubjectKeyId:          ski[:20],
	}
	if opts.Organization != "" {
		tmpl.Subject.Organization = []string{opts.Organization}
	}
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
		if tmpl.NotAfter.After(parent.cert.NotAfter) {
			tmpl.NotAfter = parent.cert.NotAfter
		}
	}
	der, err := x509.CreateCertificate(opts.Rand, tmpl, parentCert, pub, signer)
	if err != nil {
		return nil, newErr(op, "", err)
	}
	return x509.ParseCertificate(der)
}
