package stack

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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
//   - an operator CA (also a provisioning.CA) standing in for the cloud
//     operator's own PKI, which issues the TLS server certificate of the
//     broker and APIs and the client certificates of cloud services
//     (ingest). In production the server certificate may as well come
//     from the operator's enterprise PKI or ACME.
type PKI struct {
	DeviceCA *provisioning.CA
	// OperatorCA issues server and service certificates.
	OperatorCA      *provisioning.CA
	ProvisioningKey *ecdsa.PrivateKey
	dir             string
	// ServerRoots verifies the cloud's TLS servers (the operator CA).
	ServerRoots *x509.CertPool
	// DeviceCAs verifies device client certificates (the device CA only).
	DeviceCAs *x509.CertPool
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
	op, err := provisioning.NewCA(opCert, opKey, nil, provisioning.CAConfig{Validity: 7 * 24 * time.Hour})
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
	p := &PKI{dir: dir, DeviceCA: ca, OperatorCA: op, ProvisioningKey: ek,
		ServerRoots: x509.NewCertPool(), DeviceCAs: x509.NewCertPool()}
	p.ServerRoots.AddCert(opCert)
	p.DeviceCAs.AddCert(devCert)
	return p, nil
}

// ServerCertificate issues a fresh TLS server certificate for 127.0.0.1,
// ::1 and localhost, valid for a week.
func (p *PKI) ServerCertificate() (tls.Certificate, error) {
	key, err := provisioning.GenerateKey(provisioning.ES256, nil)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain, err := p.OperatorCA.IssueServerCertificate(key.Public(), provisioning.ServerCertificateOptions{
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})
	if err != nil {
		return tls.Certificate{}, err
	}
	return provisioning.NewTLSCertificate(key, chain)
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
		BrokerCAFile:   provisioning.MarshalCertificatesPEM([]*x509.Certificate{p.DeviceCA.Certificate(), p.OperatorCA.Certificate()}),
		BrokerCertFile: provisioning.MarshalCertificatesPEM([]*x509.Certificate{leaf}),
		BrokerKeyFile:  keyPEM,
	} {
		if err := provisioning.WriteFileAtomic(filepath.Join(p.dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ServiceCertificate issues a client certificate for a cloud service
// (provisioning's service certificate: CN and urn:iomt:service SAN).
func (p *PKI) ServiceCertificate(name string) (tls.Certificate, error) {
	key, err := provisioning.GenerateKey(provisioning.ES256, nil)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain, err := p.OperatorCA.IssueServiceCertificate(key.Public(), name)
	if err != nil {
		return tls.Certificate{}, err
	}
	return provisioning.NewTLSCertificate(key, chain)
}

// BrokerTLS returns the embedded broker's TLS configuration: devices from
// the device CA, and the given services from the operator CA only.
func (p *PKI) BrokerTLS(server tls.Certificate, services ...string) (*tls.Config, error) {
	return provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: server, ClientCAs: p.DeviceCAs,
		ServiceCAs: []*x509.Certificate{p.OperatorCA.Certificate()}, Services: services})
}

// Identify maps a broker client certificate, verified by [PKI.BrokerTLS],
// to the device or service it names.
func (p *PKI) Identify(cert *x509.Certificate) (broker.Identity, error) {
	peer, err := provisioning.IdentifyPeer(cert)
	if err != nil {
		return broker.Identity{}, fmt.Errorf("%w: %w", broker.ErrUnknownIdentity, err)
	}
	return broker.Identity{Device: peer.Device, Service: peer.Service}, nil
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
