package provisioning_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/openiomt/sdk/provisioning"
)

func TestIssueWithIntermediate(t *testing.T) {
	c := &clock{t0}
	rootKey := newP256(t)
	rootCert, err := provisioning.CreateRootCA(rootKey, provisioning.CAOptions{Name: "root", MaxPathLen: 1, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	root, err := provisioning.NewCA(rootCert, rootKey, nil, provisioning.CAConfig{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(root.Chain()) != 0 {
		t.Fatal("root CA sends itself in the chain")
	}
	interKey := newP256(t)
	interCert, err := provisioning.CreateIntermediateCA(root, interKey.Public(), provisioning.CAOptions{Name: "factory line 3", Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := provisioning.NewCA(interCert, interKey, nil, provisioning.CAConfig{Now: c.Now, Validity: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	dev := newDevice(t)
	key, _ := provisioning.GenerateKey(provisioning.ES256, nil)
	csr, _ := provisioning.NewCSR(dev, key, nil)
	chain, err := inter.Issue(csr, dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 || !chain[1].Equal(interCert) {
		t.Fatalf("chain has %d certificates", len(chain))
	}
	leaf := chain[0]
	if got, err := provisioning.DeviceIDFromCertificate(leaf); err != nil || got != dev {
		t.Fatalf("leaf names %v, %v", got, err)
	}
	if leaf.NotAfter.Sub(t0) != 7*24*time.Hour || leaf.IsCA {
		t.Fatalf("validity %v, IsCA %v", leaf.NotAfter.Sub(t0), leaf.IsCA)
	}
	roots := x509.NewCertPool()
	roots.AddCert(rootCert)
	inters := x509.NewCertPool()
	inters.AddCert(interCert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: t0,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("leaf does not verify to the root: %v", err)
	}
	if _, err := provisioning.NewCA(rootCert, interKey, nil, provisioning.CAConfig{}); !errors.Is(err, provisioning.ErrInvalidConfig) {
		t.Fatalf("mismatched CA key: %v", err)
	}
	if _, err := provisioning.NewCA(leaf, key, nil, provisioning.CAConfig{}); !errors.Is(err, provisioning.ErrInvalidConfig) {
		t.Fatalf("leaf as CA: %v", err)
	}
}

// TestImpersonationCSRForAnotherDevice: a device that holds a valid token
// for itself asks for a certificate naming another device.
func TestImpersonationCSRForAnotherDevice(t *testing.T) {
	ca := newTestCA(t, &clock{t0})
	victim, attacker := newDevice(t), newDevice(t)
	key := newP256(t)
	csr, _ := provisioning.NewCSR(victim, key, nil)
	_, err := ca.Issue(csr, attacker)
	wantErr(t, err, provisioning.ErrDeviceMismatch)
}

func TestCRLRoundTrip(t *testing.T) {
	c := &clock{t0}
	ca := newTestCA(t, c)
	der, err := ca.CreateCRL([]*big.Int{big.NewInt(42), big.NewInt(7)}, big.NewInt(1), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l, err := provisioning.ParseCRL(der, ca.Certificate(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Revoked(big.NewInt(42)) || !l.Revoked(big.NewInt(7)) || l.Revoked(big.NewInt(8)) || len(l.Serials()) != 2 {
		t.Fatal("CRL entries lost")
	}
	_, err = provisioning.ParseCRL(der, ca.Certificate(), t0.Add(2*time.Hour))
	wantErr(t, err, provisioning.ErrExpired)
	other := newTestCA(t, c)
	_, err = provisioning.ParseCRL(der, other.Certificate(), t0)
	wantErr(t, err, provisioning.ErrBadSignature)
	_, err = provisioning.ParseCRL([]byte("junk"), ca.Certificate(), t0)
	wantErr(t, err, provisioning.ErrMalformed)
}

// tlsPair issues a device identity and a server certificate from ca.
func tlsPair(t *testing.T, ca *provisioning.CA) (*provisioning.Identity, tls.Certificate) {
	t.Helper()
	dev := newDevice(t)
	key := newP256(t)
	csr, _ := provisioning.NewCSR(dev, key, nil)
	chain, err := ca.Issue(csr, dev)
	if err != nil {
		t.Fatal(err)
	}
	return &provisioning.Identity{Device: dev, Key: key, Chain: chain}, serverCert(t, ca)
}

// handshake runs a TLS handshake over a pipe and returns the client and
// server errors.
func handshake(t *testing.T, client, server *tls.Config) (error, error) {
	t.Helper()
	a, b := net.Pipe()
	cc := tls.Client(a, client)
	sc := tls.Server(b, server)
	errc := make(chan error, 1)
	go func() {
		err := sc.Handshake()
		if err == nil {
			_, err = sc.Write([]byte{1})
		}
		b.Close()
		errc <- err
	}()
	cerr := cc.Handshake()
	if cerr == nil {
		// TLS 1.3 client certificates are checked after the client's
		// handshake returns: the rejection shows on the first read.
		_, cerr = io.ReadFull(cc, make([]byte, 1))
	}
	a.Close()
	serr := <-errc
	if errors.Is(serr, io.EOF) {
		serr = nil
	}
	return cerr, serr
}

func TestMutualTLSWithRevocation(t *testing.T) {
	ca := newTestCA(t, &clock{time.Now()})
	id, srv := tlsPair(t, ca)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	leaf, _ := x509.ParseCertificate(srv.Certificate[0])
	serverRoots := x509.NewCertPool()
	serverRoots.AddCert(leaf)
	clientCfg, err := provisioning.DeviceTLSConfig(id, serverRoots, "broker.test")
	if err != nil {
		t.Fatal(err)
	}
	revoked := provisioning.NewRevocationList()
	serverCfg, err := provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: srv, ClientCAs: roots, Revocation: revoked})
	if err != nil {
		t.Fatal(err)
	}
	if cerr, serr := handshake(t, clientCfg, serverCfg); cerr != nil || serr != nil {
		t.Fatalf("good device rejected: client %v, server %v", cerr, serr)
	}
	revoked.Revoke(id.Chain[0].SerialNumber)
	_, serr := handshake(t, clientCfg, serverCfg)
	if !errors.Is(serr, provisioning.ErrRevoked) {
		t.Fatalf("revoked device accepted: server %v", serr)
	}
	// No client certificate at all.
	noCert := clientCfg.Clone()
	noCert.Certificates = nil
	if _, serr := handshake(t, noCert, serverCfg); serr == nil {
		t.Fatal("client without certificate accepted")
	}
	if _, err := provisioning.DeviceTLSConfig(id, nil, ""); !errors.Is(err, provisioning.ErrInvalidConfig) {
		t.Fatalf("nil roots: %v", err)
	}
	if _, err := provisioning.DeviceTLSConfig(&provisioning.Identity{Device: id.Device, Key: id.Key}, roots, ""); !errors.Is(err, provisioning.ErrNoIdentity) {
		t.Fatalf("no chain: %v", err)
	}
}
