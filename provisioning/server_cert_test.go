package provisioning_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/openiomt/sdk/provisioning"
)

// serverCert returns a TLS server certificate for "broker.test" signed by a
// separate throwaway CA that ca's certificate pool does not include; tests
// trusting it add it to RootCAs via serverRoots.
func serverCert(t testing.TB, ca *provisioning.CA) tls.Certificate {
	t.Helper()
	key := newP256(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(99),
		Subject:      pkix.Name{CommonName: "broker.test"},
		DNSNames:     []string{"broker.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	// Self-signed leaf: the device trusts the CA pool, so add the server
	// certificate itself to the test's pool.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
