// Package brokertest gives the transport tests an embedded mochi-mqtt
// broker (optionally with mutual TLS and a device-to-topic binding) and a
// throwaway PKI. It is imported only by tests.
package brokertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test certificate authority with a server certificate for
// 127.0.0.1 and localhost. CAFile, CertFile and KeyFile are PEM files for
// Mosquitto.
type PKI struct {
	CA                        *x509.Certificate
	caKey                     *ecdsa.PrivateKey
	Pool                      *x509.CertPool
	Server                    tls.Certificate
	CAFile, CertFile, KeyFile string
}

// NewPKI creates a CA and a server certificate in a temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "iomt test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &PKI{CA: ca, caKey: key, Pool: x509.NewCertPool()}
	p.Pool.AddCert(ca)
	dir := t.TempDir()
	p.CAFile = filepath.Join(dir, "ca.pem")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	p.Server = p.issue(t, "localhost", true)
	p.CertFile = filepath.Join(dir, "server.pem")
	p.KeyFile = filepath.Join(dir, "server.key")
	writePEM(t, p.CertFile, "CERTIFICATE", p.Server.Certificate[0])
	kder, _ := x509.MarshalECPrivateKey(p.Server.PrivateKey.(*ecdsa.PrivateKey))
	writePEM(t, p.KeyFile, "EC PRIVATE KEY", kder)
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *PKI) issue(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// ClientCert issues a client certificate whose subject CN is cn (a device
// UUID, or "ingest-…" for ingest workers).
func (p *PKI) ClientCert(t testing.TB, cn string) tls.Certificate { return p.issue(t, cn, false) }

// ClientTLS returns a client config trusting the CA and presenting a
// certificate for cn through GetClientCertificate.
func (p *PKI) ClientTLS(t testing.TB, cn string) *tls.Config {
	cert := p.ClientCert(t, cn)
	return &tls.Config{
		RootCAs: p.Pool, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}
}

// ServerTLS returns a server config that requires client certificates
// signed by the CA.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.Server}, ClientCAs: p.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
}
