package provisioning

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Service identities.
//
// Besides device certificates, a [CA] issues two kinds of certificate for
// the cloud side:
//
//   - server certificates ([CA.IssueServerCertificate]) for the broker and
//     the HTTPS APIs: DNS and IP SANs, extended key usage serverAuth only,
//     so they are useless as client certificates;
//   - service client certificates ([CA.IssueServiceCertificate]) for cloud
//     workers such as ingest: subject CN the service name, OU [ServiceOU],
//     and the single URI SAN urn:iomt:service:<name>, extended key usage
//     clientAuth only.
//
// A device certificate names urn:uuid:<device> and a service certificate
// urn:iomt:service:<name>; service names can never be UUIDs and the CA
// builds device certificates from the device ID alone (never from CSR
// extensions), so neither can pass as the other. [IdentifyPeer] tells them
// apart; [NewServerTLSConfig] with ServiceCAs admits both, each only from
// its own CAs.

// ServiceOU is the subject organisational unit of service certificates.
const ServiceOU = "iomt-service"

// MaxServiceNameLength bounds a service name.
const MaxServiceNameLength = 63

// serviceURIPrefix is the URI SAN prefix naming a service.
const serviceURIPrefix = "urn:iomt:service:"

// ValidServiceName reports whether name may name a service: 1 to
// MaxServiceNameLength characters of a-z, 0-9 and '-', starting with a
// letter or digit, and not a UUID (which would read as a device).
func ValidServiceName(name string) bool {
	if name == "" || len(name) > MaxServiceNameLength || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	_, err := iomt.ParseDeviceID(name)
	return err != nil
}

// ServerCertificateOptions describe a server certificate issued by
// [CA.IssueServerCertificate]. At least one DNS name or IP address is
// required.
type ServerCertificateOptions struct {
	// DNSNames the server answers to, e.g. "broker.example.com" or
	// "localhost". Wildcards are refused.
	DNSNames []string
	// IPAddresses the server answers to, e.g. 127.0.0.1 and ::1.
	IPAddresses []net.IP
	// Validity of the certificate; zero means the CA's configured
	// validity. It must not exceed MaxCertificateValidity.
	Validity time.Duration
}

// IssueServerCertificate issues a TLS server certificate for pub (ECDSA
// P-256 or Ed25519) naming opts' DNS names and IP addresses, with extended
// key usage serverAuth only. It returns the certificate followed by
// [CA.Chain]. Bad options fail with [ErrInvalidConfig], a bad key with
// [ErrUnsupportedKey].
func (ca *CA) IssueServerCertificate(pub crypto.PublicKey, opts ServerCertificateOptions) ([]*x509.Certificate, error) {
	const op = "issue server certificate"
	if len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0 {
		return nil, newErr(op, "subject alternative name", ErrInvalidConfig)
	}
	for _, n := range opts.DNSNames {
		if n == "" || len(n) > 253 || strings.ContainsAny(n, "* /:@") {
			return nil, newErr(op, "DNS name", ErrInvalidConfig)
		}
	}
	for _, ip := range opts.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, newErr(op, "IP address", ErrInvalidConfig)
		}
	}
	cn := ""
	if len(opts.DNSNames) > 0 {
		cn = opts.DNSNames[0]
	} else {
		cn = opts.IPAddresses[0].String()
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    slices.Clone(opts.DNSNames),
		IPAddresses: slices.Clone(opts.IPAddresses),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return ca.issueLeaf(op, tmpl, pub, opts.Validity)
}

// IssueServiceCertificate issues a client certificate for pub (ECDSA P-256
// or Ed25519) naming the cloud service name (see [ValidServiceName]):
// subject CN name, OU [ServiceOU], the single URI SAN
// urn:iomt:service:<name>, extended key usage clientAuth only, valid for
// the CA's configured validity. It returns the certificate followed by
// [CA.Chain]. A bad name fails with [ErrInvalidConfig].
func (ca *CA) IssueServiceCertificate(pub crypto.PublicKey, name string) ([]*x509.Certificate, error) {
	const op = "issue service certificate"
	if !ValidServiceName(name) {
		return nil, newErr(op, "name", ErrInvalidConfig)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, OrganizationalUnit: []string{ServiceOU}},
		URIs:        []*url.URL{serviceURI(name)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issueLeaf(op, tmpl, pub, 0)
}

func serviceURI(name string) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: strings.TrimPrefix(serviceURIPrefix, "urn:") + name}
}

// issueLeaf fills the common fields of tmpl, signs it and returns it with
// the chain.
func (ca *CA) issueLeaf(op string, tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) ([]*x509.Certificate, error) {
	if err := checkDeviceKey(pub); err != nil {
		return nil, newErr(op, "public key", err)
	}
	if validity == 0 {
		validity = ca.cfg.Validity
	}
	if validity < 0 || validity > MaxCertificateValidity {
		return nil, newErr(op, "validity", ErrInvalidConfig)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, newErr(op, "public key", ErrUnsupportedKey)
	}
	serial, err := randomSerial(ca.cfg.Rand)
	if err != nil {
		return nil, newErr(op, "serial", err)
	}
	now := ca.cfg.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	if !now.Before(notAfter) || now.Before(ca.cert.NotBefore) {
		return nil, newErr(op, "CA certificate", ErrExpired)
	}
	ski := sha256.Sum256(spki)
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = notAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	tmpl.SubjectKeyId = ski[:20]
	der, err := x509.CreateCertificate(ca.cfg.Rand, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, newErr(op, "", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, newErr(op, "", err)
	}
	return append([]*x509.Certificate{leaf}, ca.chain...), nil
}

// NewTLSCertificate returns key and chain (leaf first, as the Issue methods
// return it) as a tls.Certificate. It fails with [ErrInvalidConfig] when
// the chain is empty or key does not match the leaf.
func NewTLSCertificate(key crypto.Signer, chain []*x509.Certificate) (tls.Certificate, error) {
	const op = "TLS certificate"
	if key == nil || len(chain) == 0 || chain[0] == nil {
		return tls.Certificate{}, newErr(op, "", ErrInvalidConfig)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil || string(pub) != string(chain[0].RawSubjectPublicKeyInfo) {
		return tls.Certificate{}, newErr(op, "key", ErrInvalidConfig)
	}
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, cert := range chain {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c, nil
}

// Peer is the identity a client certificate names: a device or a cloud
// service, never both.
type Peer struct {
	// Device is set for device certificates.
	Device iomt.DeviceID
	// Service is set for service certificates.
	Service string
}

// IsService reports whether p is a service.
func (p Peer) IsService() bool { return p.Service != "" }

// String returns "device <uuid>" or "service <name>".
func (p Peer) String() string {
	if p.IsService() {
		return "service " + p.Service
	}
	return "device " + p.Device.String()
}

// ServiceNameFromCertificate returns the service a service certificate
// names. The certificate must carry the name as subject CN, OU [ServiceOU]
// and as its single URI SAN urn:iomt:service:<name>, no DNS, IP or e-mail
// SAN, and extended key usage clientAuth; anything else, such as a device
// or server certificate, fails with [ErrUnknownPeer].
func ServiceNameFromCertificate(cert *x509.Certificate) (string, error) {
	const op = "service certificate"
	if cert == nil {
		return "", newErr(op, "", ErrMalformed)
	}
	name := cert.Subject.CommonName
	if !ValidServiceName(name) {
		return "", newErr(op, "subject CN", ErrUnknownPeer)
	}
	if !slices.Equal(cert.Subject.OrganizationalUnit, []string{ServiceOU}) {
		return "", newErr(op, "subject OU", ErrUnknownPeer)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != serviceURIPrefix+name ||
		len(cert.DNSNames) != 0 || len(cert.IPAddresses) != 0 || len(cert.EmailAddresses) != 0 {
		return "", newErr(op, "subject alternative name", ErrUnknownPeer)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return "", newErr(op, "extended key usage", ErrUnknownPeer)
	}
	return name, nil
}

// IdentifyPeer tells a device certificate (urn:uuid SAN, see
// [DeviceIDFromCertificate]) from a service certificate (urn:iomt:service
// SAN, see [ServiceNameFromCertificate]). A certificate that is neither, or
// mixes the two (a UUID subject with a service OU), fails with an error
// wrapping [ErrUnknownPeer]. It checks the certificate's shape only; the
// chain must have been verified against the right CAs, as
// [NewServerTLSConfig] does.
func IdentifyPeer(cert *x509.Certificate) (Peer, error) {
	const op = "identify peer"
	if cert == nil {
		return Peer{}, newErr(op, "", ErrMalformed)
	}
	if len(cert.URIs) == 1 && strings.HasPrefix(cert.URIs[0].String(), serviceURIPrefix) {
		name, err := ServiceNameFromCertificate(cert)
		if err != nil {
			return Peer{}, err
		}
		return Peer{Service: name}, nil
	}
	device, err := DeviceIDFromCertificate(cert)
	if err != nil {
		return Peer{}, newErr(op, "device", ErrUnknownPeer)
	}
	if slices.Contains(cert.Subject.OrganizationalUnit, ServiceOU) {
		return Peer{}, newErr(op, "subject OU", ErrUnknownPeer)
	}
	return Peer{Device: device}, nil
}
