package provisioning_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/openiomt/sdk/provisioning"
)

// servicePKI is a device CA and a separate operator CA that issues the
// server certificate and the service certificates.
type servicePKI struct {
	devices, operator *provisioning.CA
	deviceRoots       *x509.CertPool
	serverRoots       *x509.CertPool
	server            tls.Certificate
}

func newServicePKI(t *testing.T) *servicePKI {
	t.Helper()
	c := &clock{time.Now()}
	p := &servicePKI{devices: newTestCA(t, c), operator: newTestCA(t, c)}
	p.deviceRoots = x509.NewCertPool()
	p.deviceRoots.AddCert(p.devices.Certificate())
	p.serverRoots = x509.NewCertPool()
	p.serverRoots.AddCert(p.operator.Certificate())
	key := newP256(t)
	chain, err := p.operator.IssueServerCertificate(key.Public(), provisioning.ServerCertificateOptions{
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})
	if err != nil {
		t.Fatal(err)
	}
	if p.server, err = provisioning.NewTLSCertificate(key, chain); err != nil {
		t.Fatal(err)
	}
	return p
}

// brokerConfig admits devices of the device CA and the "ingest" service of
// the operator CA.
func (p *servicePKI) brokerConfig(t *testing.T) *tls.Config {
	t.Helper()
	cfg, err := provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: p.server, ClientCAs: p.deviceRoots,
		ServiceCAs: []*x509.Certificate{p.operator.Certificate()}, Services: []string{"ingest"}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (p *servicePKI) service(t *testing.T, ca *provisioning.CA, name string) tls.Certificate {
	t.Helper()
	key := newP256(t)
	chain, err := ca.IssueServiceCertificate(key.Public(), name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := provisioning.NewTLSCertificate(key, chain)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *servicePKI) device(t *testing.T, ca *provisioning.CA) tls.Certificate {
	t.Helper()
	id, _ := tlsPair(t, ca)
	c, err := id.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *servicePKI) client(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.serverRoots, ServerName: "localhost", Certificates: []tls.Certificate{cert}}
}

func TestServiceAndDeviceBothAdmittedAndIdentified(t *testing.T) {
	p := newServicePKI(t)
	srv := p.brokerConfig(t)
	var peers []provisioning.Peer
	srv.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
		peer, err := provisioning.IdentifyPeer(chains[0][0])
		peers = append(peers, peer)
		return err
	}
	for _, c := range []tls.Certificate{p.service(t, p.operator, "ingest"), p.device(t, p.devices)} {
		if cerr, serr := handshake(t, p.client(c), srv); cerr != nil || serr != nil {
			t.Fatalf("refused: client %v, server %v", cerr, serr)
		}
	}
	if len(peers) != 2 || peers[0].Service != "ingest" || !peers[0].Device.IsZero() || peers[1].IsService() || peers[1].Device.IsZero() {
		t.Fatalf("peers %v", peers)
	}
}

// TestImpersonationDeviceCertificateAsService: a device's certificate never
// identifies as a service, whichever CA issued it.
func TestImpersonationDeviceCertificateAsService(t *testing.T) {
	p := newServicePKI(t)
	for _, ca := range []*provisioning.CA{p.devices, p.operator} {
		c := p.device(t, ca)
		if _, err := provisioning.ServiceNameFromCertificate(c.Leaf); !errors.Is(err, provisioning.ErrUnknownPeer) {
			t.Fatalf("device certificate read as a service: %v", err)
		}
		if peer, err := provisioning.IdentifyPeer(c.Leaf); err != nil || peer.IsService() {
			t.Fatalf("device certificate identified as %v, %v", peer, err)
		}
	}
	// A device certificate minted by the operator (service) CA is refused
	// by a server that trusts that CA for services only.
	if _, serr := handshake(t, p.client(p.device(t, p.operator)), p.brokerConfig(t)); !errors.Is(serr, provisioning.ErrUnknownPeer) {
		t.Fatalf("device certificate from the service CA: %v, want ErrUnknownPeer", serr)
	}
}

// TestImpersonationServiceCertificateAsDevice: a service certificate never
// yields a device ID, and one minted by the device CA is refused.
func TestImpersonationServiceCertificateAsDevice(t *testing.T) {
	p := newServicePKI(t)
	c := p.service(t, p.operator, "ingest")
	if _, err := provisioning.DeviceIDFromCertificate(c.Leaf); err == nil {
		t.Fatal("service certificate read as a device")
	}
	// A server that admits devices only refuses it.
	devOnly, err := provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: p.server, ClientCAs: p.deviceRoots})
	if err != nil {
		t.Fatal(err)
	}
	if _, serr := handshake(t, p.client(p.service(t, p.devices, "ingest")), devOnly); serr == nil {
		t.Fatal("device-only server admitted a service certificate")
	}
	// The device CA cannot mint services for a server that separates them.
	if _, serr := handshake(t, p.client(p.service(t, p.devices, "ingest")), p.brokerConfig(t)); !errors.Is(serr, provisioning.ErrUnknownPeer) {
		t.Fatalf("service certificate from the device CA: %v, want ErrUnknownPeer", serr)
	}
}

func TestImpersonationServiceNotAdmitted(t *testing.T) {
	p := newServicePKI(t)
	if _, serr := handshake(t, p.client(p.service(t, p.operator, "billing")), p.brokerConfig(t)); !errors.Is(serr, provisioning.ErrUnknownPeer) {
		t.Fatalf("service outside the list: %v, want ErrUnknownPeer", serr)
	}
}

// TestImpersonationServerCertificateAsClient: the broker's own server
// certificate (serverAuth only) is no client identity.
func TestImpersonationServerCertificateAsClient(t *testing.T) {
	p := newServicePKI(t)
	if _, serr := handshake(t, p.client(p.server), p.brokerConfig(t)); serr == nil {
		t.Fatal("server certificate accepted as a client certificate")
	}
	if _, err := provisioning.IdentifyPeer(p.server.Leaf); !errors.Is(err, provisioning.ErrUnknownPeer) {
		t.Fatalf("server certificate identified: %v", err)
	}
}

func TestServiceNameLookingLikeDeviceRefused(t *testing.T) {
	p := newServicePKI(t)
	dev := newDevice(t)
	for _, name := range []string{dev.String(), "", "Ingest", "-x", "a b", "in/gest", string(make([]byte, 64))} {
		if provisioning.ValidServiceName(name) {
			t.Errorf("ValidServiceName(%q) = true", name)
		}
		if _, err := p.operator.IssueServiceCertificate(newP256(t).Public(), name); !errors.Is(err, provisioning.ErrInvalidConfig) {
			t.Errorf("issued a service certificate named %q: %v", name, err)
		}
	}
	if _, err := provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: p.server, ClientCAs: p.deviceRoots,
		ServiceCAs: []*x509.Certificate{p.operator.Certificate()}, Services: []string{dev.String()}}); !errors.Is(err, provisioning.ErrInvalidConfig) {
		t.Fatalf("UUID as an admitted service: %v", err)
	}
	if _, err := provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: p.server, ClientCAs: p.deviceRoots,
		Services: []string{"ingest"}}); !errors.Is(err, provisioning.ErrInvalidConfig) {
		t.Fatalf("services without service CAs: %v", err)
	}
}

func TestServerCertificateNames(t *testing.T) {
	p := newServicePKI(t)
	leaf := p.server.Leaf
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if leaf.VerifyHostname("broker.example.com") == nil {
		t.Error("server certificate valid for a name it was not issued for")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.serverRoots, DNSName: "localhost"}); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]provisioning.ServerCertificateOptions{
		"no names": {},
		"wildcard": {DNSNames: []string{"*.example.com"}},
		"bad ip":   {IPAddresses: []net.IP{{1, 2, 3}}},
		"too long": {DNSNames: []string{"localhost"}, Validity: 10 * 365 * 24 * time.Hour},
	} {
		if _, err := p.operator.IssueServerCertificate(newP256(t).Public(), opts); !errors.Is(err, provisioning.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := provisioning.NewTLSCertificate(newP256(t), []*x509.Certificate{leaf}); !errors.Is(err, provisioning.ErrInvalidConfig) {
		t.Fatalf("mismatched key: %v", err)
	}
}
