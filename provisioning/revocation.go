package provisioning

import (
	"context"
	"crypto/x509"
	"math/big"
	"sync"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// RevocationChecker reports whether a device certificate may still be used.
// The device registries implement it (a certificate is good only while its
// device is active and it is the device's current certificate);
// [RevocationList] implements it from a CRL.
type RevocationChecker interface {
	// CheckCertificate returns nil when the certificate with serial, issued
	// to device, is in good standing, an error wrapping [ErrRevoked] when it
	// is not, and another error when the answer is unknown (callers must
	// then fail closed).
	CheckCertificate(ctx context.Context, device iomt.DeviceID, serial *big.Int) error
}

// RevocationList is a set of revoked certificate serial numbers, built by
// hand or from a CRL signed by the CA. It is safe for concurrent use.
type RevocationList struct {
	mu      sync.RWMutex
	serials map[string]struct{}
}

var _ RevocationChecker = (*RevocationList)(nil)

// MaxCRLSize bounds the DER CRL ParseCRL accepts.
const MaxCRLSize = 4 << 20

// NewRevocationList returns a list holding serials.
func NewRevocationList(serials ...*big.Int) *RevocationList {
	l := &RevocationList{serials: make(map[string]struct{})}
	for _, s := range serials {
		l.Revoke(s)
	}
	return l
}

// Revoke adds serial to the list.
func (l *RevocationList) Revoke(serial *big.Int) {
	if serial == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.serials[string(serial.Bytes())] = struct{}{}
}

// Revoked reports whether serial is on the list.
func (l *RevocationList) Revoked(serial *big.Int) bool {
	if serial == nil {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.serials[string(serial.Bytes())]
	return ok
}

// Serials returns the revoked serial numbers in no particular order.
func (l *RevocationList) Serials() []*big.Int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]*big.Int, 0, len(l.serials))
	for s := range l.serials {
		out = append(out, new(big.Int).SetBytes([]byte(s)))
	}
	return out
}

// CheckCertificate implements [RevocationChecker].
func (l *RevocationList) CheckCertificate(_ context.Context, _ iomt.DeviceID, serial *big.Int) error {
	if l.Revoked(serial) {
		return newErr("revocation list", "serial", ErrRevoked)
	}
	return nil
}

// CreateCRL returns a DER X.509 CRL signed by the CA listing serials,
// numbered number and valid until now+validity. Brokers such as Mosquitto
// (crlfile) and any TLS server can consult it.
func (ca *CA) CreateCRL(serials []*big.Int, number *big.Int, validity time.Duration) ([]byte, error) {
	const op = "create CRL"
	if number == nil || number.Sign() < 0 || validity <= 0 {
		return nil, newErr(op, "options", ErrInvalidConfig)
	}
	now := ca.cfg.Now()
	tmpl := &x509.RevocationList{
		Number:     number,
		ThisUpdate: now.Add(-clockSkew),
		NextUpdate: now.Add(validity),
	}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: now})
	}
	der, err := x509.CreateRevocationList(ca.cfg.Rand, tmpl, ca.cert, ca.key)
	if err != nil {
		return nil, newErr(op, "", err)
	}
	return der, nil
}

// ParseCRL parses a DER CRL, checks that issuer signed it and that it is
// current at now, and returns its entries as a RevocationList.
func ParseCRL(der []byte, issuer *x509.Certificate, now time.Time) (*RevocationList, error) {
	const op = "parse CRL"
	if len(der) > MaxCRLSize {
		return nil, newErr(op, "", ErrTooLarge)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, newErr(op, "", ErrMalformed)
	}
	if issuer == nil || crl.CheckSignatureFrom(issuer) != nil {
		return nil, newErr(op, "signature", ErrBadSignature)
	}
	if now.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && now.After(crl.NextUpdate)) {
		return nil, newErr(op, "nextUpdate", ErrExpired)
	}
	l := NewRevocationList()
	for _, e := range crl.RevokedCertificateEntries {
		l.Revoke(e.SerialNumber)
	}
	return l, nil
}
