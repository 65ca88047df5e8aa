package provisioning

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net/url"

	"github.com/openiomt/sdk/iomt"
)

// KeyAlgorithm names a device key type, spelled as its JOSE algorithm.
type KeyAlgorithm string

// Device key algorithms. The zero value means [ES256].
const (
	// ES256 is ECDSA on NIST P-256 with SHA-256, the default: supported by
	// every secure element and TPM 2.0.
	ES256 KeyAlgorithm = "ES256"
	// EdDSA is Ed25519.
	EdDSA KeyAlgorithm = "EdDSA"
)

// MaxCSRSize is the largest DER certificate request ParseCSR accepts.
const MaxCSRSize = 8 << 10

// GenerateKey returns a new device key of alg (zero means ES256) read from
// rnd, or crypto/rand when rnd is nil.
func GenerateKey(alg KeyAlgorithm, rnd io.Reader) (crypto.Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	switch alg {
	case "", ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rnd)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rnd)
		if err != nil {
			return nil, err
		}
		return priv, nil
	}
	return nil, newErr("generate key", "alg", ErrUnsupportedKey)
}

// checkDeviceKey accepts ECDSA P-256 and Ed25519 public keys.
func checkDeviceKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return ErrUnsupportedKey
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return ErrUnsupportedKey
		}
		return nil
	}
	return ErrUnsupportedKey
}

// deviceURI returns the URI SAN naming device: urn:uuid:<id>.
func deviceURI(device iomt.DeviceID) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: "uuid:" + device.String()}
}

// NewCSR returns a DER PKCS #10 certificate request for device signed by key,
// with the device UUID as subject CN and as the only URI SAN
// (urn:uuid:<id>). rnd may be nil (crypto/rand).
func NewCSR(device iomt.DeviceID, key crypto.Signer, rnd io.Reader) ([]byte, error) {
	if device.IsZero() {
		return nil, newErr("new CSR", "device", iomt.ErrInvalidID)
	}
	if key == nil {
		return nil, newErr("new CSR", "key", ErrUnsupportedKey)
	}
	if err := checkDeviceKey(key.Public()); err != nil {
		return nil, newErr("new CSR", "key", err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	tmpl := &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: device.String()},
		URIs:    []*url.URL{deviceURI(device)},
	}
	der, err := x509.CreateCertificateRequest(rnd, tmpl, key)
	if err != nil {
		return nil, newErr("new CSR", "", err)
	}
	return der, nil
}

// ParseCSR parses a DER certificate request, checks its signature and key
// type, and returns it with the device it names. The request must name the
// same device as subject CN and as its single urn:uuid URI SAN, and carry no
// other SANs; anything else fails with [ErrInvalidCSR]. Input above
// [MaxCSRSize] fails with [ErrTooLarge].
func ParseCSR(der []byte) (*x509.CertificateRequest, iomt.DeviceID, error) {
	const op = "parse CSR"
	if len(der) > MaxCSRSize {
		return nil, iomt.DeviceID{}, newErr(op, "", ErrTooLarge)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, iomt.DeviceID{}, newErr(op, "", ErrMalformed)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, iomt.DeviceID{}, newErr(op, "signature", ErrInvalidCSR)
	}
	if err := checkDeviceKey(csr.PublicKey); err != nil {
		return nil, iomt.DeviceID{}, newErr(op, "public key", err)
	}
	device, err := iomt.ParseDeviceID(csr.Subject.CommonName)
	if err != nil {
		return nil, iomt.DeviceID{}, newErr(op, "subject CN", ErrInvalidCSR)
	}
	if len(csr.DNSNames) != 0 || len(csr.EmailAddresses) != 0 || len(csr.IPAddresses) != 0 ||
		len(csr.URIs) != 1 || csr.URIs[0].String() != deviceURI(device).String() {
		return nil, iomt.DeviceID{}, newErr(op, "subject alternative name", ErrInvalidCSR)
	}
	return csr, device, nil
}

// DeviceIDFromCertificate returns the device a device certificate names: its
// subject CN, which must equal its single urn:uuid URI SAN.
func DeviceIDFromCertificate(cert *x509.Certificate) (iomt.DeviceID, error) {
	const op = "device certificate"
	if cert == nil {
		return iomt.DeviceID{}, newErr(op, "", ErrMalformed)
	}
	device, err := iomt.ParseDeviceID(cert.Subject.CommonName)
	if err != nil {
		return iomt.DeviceID{}, newErr(op, "subject CN", ErrMalformed)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != deviceURI(device).String() {
		return iomt.DeviceID{}, newErr(op, "subject alternative name", ErrDeviceMismatch)
	}
	return device, nil
}

// Identity is everything a device knows about itself once provisioned. It
// holds the private key, so it implements slog.LogValuer to log only the
// device UUID and whether a certificate is present.
type Identity struct {
	// Device is the device UUID, assigned at manufacture.
	Device iomt.DeviceID
	// Key is the device key. It may be backed by a secure element or TPM;
	// its private part then never leaves the chip.
	Key crypto.Signer
	// Chain is the device certificate followed by the issuing CA
	// certificates up to, not including, the root. Empty before enrolment.
	Chain []*x509.Certificate
	// Patient is the patient the device is bound to; zero when unbound.
	Patient iomt.PatientID
	// BrokerURL is the MQTT broker the device publishes to, e.g.
	// mqtts://broker.example.com:8883; empty when not yet paired.
	BrokerURL string
	// EnrollmentURL is the base URL of the enrolment service; empty when
	// not yet paired.
	EnrollmentURL string
}

// LogValue implements slog.LogValuer without any key material.
func (id *Identity) LogValue() slog.Value {
	if id == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("device", id.Device.String()),
		slog.Bool("enrolled", len(id.Chain) > 0),
		slog.Bool("paired", !id.Patient.IsZero()),
	)
}

// TLSCertificate returns the key and chain as a tls.Certificate for mutual
// TLS, or an error wrapping [ErrNoIdentity] before enrolment.
func (id *Identity) TLSCertificate() (tls.Certificate, error) {
	if id == nil || id.Key == nil || len(id.Chain) == 0 {
		return tls.Certificate{}, newErr("identity", "certificate", ErrNoIdentity)
	}
	c := tls.Certificate{PrivateKey: id.Key, Leaf: id.Chain[0]}
	for _, cert := range id.Chain {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c, nil
}
