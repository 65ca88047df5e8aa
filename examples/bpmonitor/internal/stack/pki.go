package stack

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/broker"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/monitor"
	"github.com/openiomt/sdk/provisioning"
)

// PKI is the stack's key material, kept in a directory (0700, keys 0600):
//
//   - the manufacturer's device CA (provisioning.CA), which issues device
//     certificates on enrolment;
//   - the provisioning key (ECDSA P-256), which signs enrolment tokens and
//     pairing payloads; its public half is baked into device firmware;
//   - an operator CA standing in for the cloud operator's own PKI, which
//     issues the TLS server certificate of the broker and APIs and the
//     client certificates of cloud services (ingest). The SDK issues device
//     certificates only; in production these come from the operator's
//     enterprise PKI or ACME.
type PKI struct {
	DeviceCA        *provisioning.CA
	ProvisioningKey *ecdsa.PrivateKey
	operatorCert    *x509.Certificate
	operatorKey     crypto.Signer
	dir             string
	// ServerRoots verifies the cloud's TLS servers (the operator CA).
	ServerRoots *x509.CertPool
	// ClientCAs verifies clients of the broker: devices and services.
	ClientCAs *x509.CertPool
}

// Files in the PKI directory that devices need ("baked into firmware").
const (
	OperatorCAFile      = monitor.OperatorCAFile
	ProvisioningPubFile = monitor.ProvisioningPubFile
)

// LoadOrCreatePKI opens the PKI in dir, creating it on first use.
func LoadOrCreatePKI(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	devKey, err := loadOrCreateKey(filepath.Join(dir, "device-ca.key"))
	if err != nil {
		return nil, err
	}
	devCert, err := loadOrCreateCA(filepath.Join(dir, "device-ca.pem"), devKey, "bpmonitor demo device CA")
	if err != nil {
		return nil, err
	}
	ca, err := provisioning.NewCA(devCert, devKey, nil, provisioning.CAConfig{Validity: 30 * 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	opKey, err := loadOrCreateKey(filepath.Join(dir, "operator-ca.key"))
	if err != nil {
		return nil, err
	}
	opCert, err := loadOrCreateCA(filepath.Join(dir, OperatorCAFile), opKey, "bpmonitor demo operator CA")
	if err != nil {
		return nil, err
	}
	provKey, err := loadOrCreateKey(filepath.Join(dir, "provisioning.key"))
	if err != nil {
		return nil, err
	}
	ek, ok := provKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("provisioning key is not ECDSA P-256")
	}
	pubDER, err := x509.MarshalPKIXPublicKey(ek.Public())
	if err != nil {
		return nil, err
	}
	if err := provisioning.WriteFileAtomic(filepath.Join(dir, ProvisioningPubFile), pemBlock("PUBLIC KEY", pubDER), 0o644); err != nil {
		return nil, err
	}
	p := &PKI{dir: dir, DeviceCA: ca, ProvisioningKey: ek, operatorCert: opCert, operatorKey: opKey,
		ServerRoots: x509.NewCertPool(), ClientCAs: x509.NewCertPool()}
	p.ServerRoots.AddCert(opCert)
	p.ClientCAs.AddCert(devCert)
	p.ClientCAs.AddCert(opCert)
	return p, nil
}

// ServerCertificate issues a fresh TLS server certificate for 127.0.0.1,
// ::1 and localhost, valid for a week.
func (p *PKI) ServerCertificate() (tls.Certificate, error) {
	return p.leaf("bpmonitor cloud", x509.ExtKeyUsageServerAuth, true)
}

// Files WriteBrokerTLS writes into the PKI directory for an external broker.
const (
	BrokerCAFile   = "broker-client-ca.pem"
	BrokerCertFile = "broker-server.pem"
	BrokerKeyFile  = "broker-server.key"
)

// WriteBrokerTLS writes what an external broker such as Mosquitto needs
// (cafile, certfile, keyfile): the CAs of its clients (device CA and
// operator CA) and a server certificate for 127.0.0.1/localhost.
func (p *PKI) WriteBrokerTLS(server tls.Certificate) error {
	keyPEM, err := provisioning.MarshalPrivateKeyPEM(server.PrivateKey.(crypto.Signer))
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(server.Certificate[0])
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{
		BrokerCAFile:   provisioning.MarshalCertificatesPEM([]*x509.Certificate{p.DeviceCA.Certificate(), p.operatorCert}),
		BrokerCertFile: provisioning.MarshalCertificatesPEM([]*x509.Certificate{leaf}),
		BrokerKeyFile:  keyPEM,
	} {
		if err := provisioning.WriteFileAtomic(filepath.Join(p.dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ServiceCertificate issues a client certificate naming a cloud service
// (the broker maps its common name to a service identity).
func (p *PKI) ServiceCertificate(name string) (tls.Certificate, error) {
	return p.leaf(name, x509.ExtKeyUsageClientAuth, false)
}

func (p *PKI) leaf(cn string, usage x509.ExtKeyUsage, server bool) (tls.Certificate, error) {
	key, err := provisioning.GenerateKey(provisioning.ES256, nil)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"bpmonitor demo operator"}},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if server {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.operatorCert, key.Public(), p.operatorKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, p.operatorCert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// Identify maps a broker client certificate to an identity: certificates
// from the operator CA are services named by their common name; all others
// (from the device CA) are devices named by their urn:uuid SAN.
func (p *PKI) Identify(services ...string) func(*x509.Certificate) (broker.Identity, error) {
	return func(cert *x509.Certificate) (broker.Identity, error) {
		if cert.CheckSignatureFrom(p.operatorCert) == nil {
			for _, s := range services {
				if cert.Subject.CommonName == s {
					return broker.Identity{Service: s}, nil
				}
			}
			return broker.Identity{}, broker.ErrUnknownIdentity
		}
		id, err := provisioning.DeviceIDFromCertificate(cert)
		if err != nil {
			return broker.Identity{}, fmt.Errorf("%w: %w", broker.ErrUnknownIdentity, err)
		}
		return broker.Identity{Device: id}, nil
	}
}

func loadOrCreateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return provisioning.ParsePrivateKeyPEM(b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := provisioning.GenerateKey(provisioning.ES256, nil)
	if err != nil {
		return nil, err
	}
	pemBytes, err := provisioning.MarshalPrivateKeyPEM(k)
	if err != nil {
		return nil, err
	}
	return k, provisioning.WriteFileAtomic(path, pemBytes, 0o600)
}

func loadOrCreateCA(path string, key crypto.Signer, name string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		certs, err := provisioning.ParseCertificatesPEM(b)
		if err != nil || len(certs) != 1 {
			return nil, fmt.Errorf("%s: not one certificate", filepath.Base(path))
		}
		return certs[0], nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	cert, err := provisioning.CreateRootCA(key, provisioning.CAOptions{Name: name, Organization: "openiomt example"})
	if err != nil {
		return nil, err
	}
	return cert, provisioning.WriteFileAtomic(path, provisioning.MarshalCertificatesPEM([]*x509.Certificate{cert}), 0o644)
}
