package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/goleak"

	"github.com/openiomt/sdk/iomt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPKI is a throwaway CA for the broker's own tests. The example itself
// gets its certificates from the provisioning package.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	pool  *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool}
}

func (p *testPKI) issue(t *testing.T, cn string, uris []*url.URL, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, URIs: uris,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *testPKI) device(t *testing.T) (iomt.DeviceID, tls.Certificate) {
	id, _ := iomt.NewDeviceID(nil)
	return id, p.issue(t, id.String(), []*url.URL{{Scheme: "urn", Opaque: "uuid:" + id.String()}}, false)
}

func startBroker(t *testing.T, p *testPKI, mod func(*Config)) *Broker {
	t.Helper()
	cfg := Config{
		TLS: &tls.Config{
			Certificates: []tls.Certificate{p.issue(t, "broker", nil, true)},
			ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: p.pool,
		},
		Services: []string{"ingest"},
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type client struct {
	c    *paho.Client
	msgs chan *paho.Publish
}

// dial connects with cert and clientID; it returns the CONNACK error, if any.
func dial(t *testing.T, b *Broker, p *testPKI, cert *tls.Certificate, clientID string) (*client, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", b.Addr())
	if err != nil {
		return nil, err
	}
	msgs := make(chan *paho.Publish, 16)
	c := paho.NewClient(paho.ClientConfig{
		Conn: packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			msgs <- r.Packet
			return true, nil
		}},
	})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}); err != nil {
		_ = conn.Close()
		<-c.Done()
		return nil, err
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return &client{c: c, msgs: msgs}, nil
}

func (c *client) publish(t *testing.T, topic string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("x")})
	if r != nil {
		return r.ReasonCode
	}
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return 0
}

func (c *client) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if r != nil && len(r.Reasons) == 1 {
		return r.Reasons[0]
	}
	t.Fatalf("subscribe: %v", err)
	return 0
}

func TestStartRefusesWeakTLS(t *testing.T) {
	p := newPKI(t)
	cert := p.issue(t, "broker", nil, true)
	for name, cfg := range map[string]Config{
		"no TLS":             {},
		"no client auth":     {TLS: &tls.Config{Certificates: []tls.Certificate{cert}}},
		"optional certs":     {TLS: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: p.pool}},
		"no client CA":       {TLS: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert}},
		"no server identity": {TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}},
	} {
		if b, err := Start(cfg); err == nil {
			_ = b.Close()
			t.Errorf("%s: Start accepted it", name)
		}
	}
}

func TestDeviceTopicsAndServiceDelivery(t *testing.T) {
	p := newPKI(t)
	b := startBroker(t, p, nil)
	id, cert := p.device(t)
	dev, err := dial(t, b, p, &cert, id.String())
	if err != nil {
		t.Fatalf("device connect: %v", err)
	}
	svcCert := p.issue(t, "ingest", nil, false)
	svc, err := dial(t, b, p, &svcCert, "ingest-1")
	if err != nil {
		t.Fatalf("service connect: %v", err)
	}
	if rc := svc.subscribe(t, "$share/ingest/iomt/v1/+/telemetry/+"); rc >= 0x80 {
		t.Fatalf("service shared subscription refused: %#x", rc)
	}
	topic := "iomt/v1/" + id.String() + "/telemetry/blood_pressure"
	if rc := dev.publish(t, topic); rc >= 0x80 {
		t.Fatalf("publish on own topic refused: %#x", rc)
	}
	select {
	case m := <-svc.msgs:
		if m.Topic != topic {
			t.Fatalf("service got %q", m.Topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("service did not receive the device's reading")
	}
	if rc := dev.publish(t, "iomt/v1/"+id.String()+"/ota/status"); rc >= 0x80 {
		t.Fatalf("ota status refused: %#x", rc)
	}
	if rc := svc.publish(t, topic); rc < 0x80 {
		t.Fatalf("service publish accepted (%#x)", rc)
	}
}

func TestImpersonationPublishOnAnotherDevicesTopic(t *testing.T) {
	p := newPKI(t)
	var mu sync.Mutex
	var refusals []Refusal
	b := startBroker(t, p, func(c *Config) {
		c.OnRefused = func(r Refusal) { mu.Lock(); refusals = append(refusals, r); mu.Unlock() }
	})
	idA, certA := p.device(t)
	idB, _ := p.device(t)
	a, err := dial(t, b, p, &certA, idA.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{
		"iomt/v1/" + idB.String() + "/telemetry/blood_pressure",
		"iomt/v1/" + idA.String() + "/telemetry/name",
		"iomt/v1/" + idA.String() + "/ota/release",
		"other/topic",
	} {
		if rc := a.publish(t, topic); rc < 0x80 {
			t.Errorf("publish to %q accepted (%#x)", topic, rc)
		}
	}
	for _, filter := range []string{"#", "iomt/v1/+/telemetry/+", "iomt/v1/" + idB.String() + "/#"} {
		if rc := a.subscribe(t, filter); rc < 0x80 {
			t.Errorf("subscribe to %q accepted (%#x)", filter, rc)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refusals) < 7 {
		t.Fatalf("refusals reported: %d, want ≥ 7", len(refusals))
	}
}

func TestImpersonationClientIDTakeover(t *testing.T) {
	p := newPKI(t)
	b := startBroker(t, p, nil)
	idA, certA := p.device(t)
	idB, certB := p.device(t)
	if _, err := dial(t, b, p, &certB, idB.String()); err != nil {
		t.Fatal(err)
	}
	// A's certificate claiming B's client ID would otherwise take over B's session.
	if _, err := dial(t, b, p, &certA, idB.String()); err == nil {
		t.Fatal("connect with another device's client ID accepted")
	}
	_ = idA
}

func TestImpersonationWithoutCertificate(t *testing.T) {
	p := newPKI(t)
	b := startBroker(t, p, nil)
	if _, err := dial(t, b, p, nil, "anyone"); err == nil {
		t.Fatal("connect without a client certificate accepted")
	}
	other := newPKI(t) // a certificate from a CA the broker does not trust
	id, cert := other.device(t)
	if _, err := dial(t, b, p, &cert, id.String()); err == nil {
		t.Fatal("connect with a foreign CA's certificate accepted")
	}
	unknown := p.issue(t, "billing", nil, false) // trusted CA, but neither device nor service
	if _, err := dial(t, b, p, &unknown, "billing"); err == nil {
		t.Fatal("connect with an unknown identity accepted")
	}
}

func TestRevokedDeviceRefused(t *testing.T) {
	p := newPKI(t)
	idA, certA := p.device(t)
	b := startBroker(t, p, func(c *Config) {
		c.Admit = func(id Identity) error {
			if id.Device == idA {
				return ErrUnknownIdentity
			}
			return nil
		}
	})
	if _, err := dial(t, b, p, &certA, idA.String()); err == nil {
		t.Fatal("revoked device accepted")
	}
}

func TestTapSeesEverything(t *testing.T) {
	p := newPKI(t)
	b := startBroker(t, p, nil)
	got := make(chan string, 4)
	if err := b.Tap("#", func(topic string, _ []byte) { got <- topic }); err != nil {
		t.Fatal(err)
	}
	id, cert := p.device(t)
	dev, err := dial(t, b, p, &cert, id.String())
	if err != nil {
		t.Fatal(err)
	}
	dev.publish(t, "iomt/v1/"+id.String()+"/telemetry/blood_pressure")
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("tap saw nothing")
	}
}

func TestAuthorizeLimits(t *testing.T) {
	id, _ := iomt.NewDeviceID(nil)
	long := "iomt/v1/" + id.String() + "/telemetry/" + string(make([]byte, 600))
	if Authorize(Identity{Device: id}, long, true) == "" {
		t.Fatal("oversized topic accepted")
	}
	if Authorize(Identity{}, "iomt/v1/x", false) == "" {
		t.Fatal("empty identity accepted")
	}
	if Authorize(Identity{Service: "ingest"}, "$share//iomt/v1/#", false) == "" {
		t.Fatal("malformed shared filter accepted")
	}
}

// A broker stopped while devices connect and drop (Ctrl-C during a Wi-Fi
// flap) must still stop: mochi-mqtt 2.7.9's own Close can deadlock on its
// client map when a client attaches or leaves at that moment
// (mochi-mqtt/server#488; seen once as a 10-minute hang of
// TestImpersonationClientIDTakeover under -race). The window is a few
// instructions wide, so this churn test does not reproduce the deadlock
// on demand; it guards Close under the load that exposes it.
func TestCloseWhileDevicesConnectAndDrop(t *testing.T) {
	for round := 0; round < 3; round++ {
		p := newPKI(t)
		b := startBroker(t, p, nil)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var connected atomic.Int64
		for range 8 {
			id, cert := p.device(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", b.Addr())
					if err != nil {
						cancel()
						continue // the listener is closed: keep trying until told to stop
					}
					c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
					if _, err := c.Connect(ctx, &paho.Connect{ClientID: id.String(), KeepAlive: 30, CleanStart: true}); err == nil {
						connected.Add(1)
					}
					_ = conn.Close() // drop without DISCONNECT
					<-c.Done()
					cancel()
				}
			}()
		}
		deadline := time.Now().Add(30 * time.Second)
		for connected.Load() < 30 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		closed := make(chan error, 1)
		go func() { closed <- b.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			close(stop)
			t.Fatalf("round %d: Close did not return (deadlock in the broker's client map)", round)
		}
		close(stop)
		wg.Wait()
	}
}
