package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/goleak"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
	"github.com/openiomt/sdk/provisioning/registry/sqlite"
	"github.com/openiomt/sdk/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cloud is the manufacturer's back end: CA, registry, token issuer,
// pairing sealer, enrolment server, broker.
type cloud struct {
	deviceCA   *provisioning.CA
	serverRoot *x509.CertPool // what devices trust for servers
	registry   *sqlite.Registry
	tokens     *provisioning.TokenIssuer
	sealer     *provisioning.PairingSealer
	provPub    *ecdsa.PublicKey
	enrollURL  string
	broker     *testenv.Mosquitto
	crlPath    string
	crlNumber  int64
	dir        string
	verifier   *telemetry.Verifier // the ingest's, set by envelope
}

func mustP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serverLeaf issues a TLS server certificate for 127.0.0.1 from a fresh
// server CA and returns it with that CA's certificate.
func serverLeaf(t *testing.T) (tls.Certificate, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	rootKey := mustP256(t)
	root, err := provisioning.CreateRootCA(rootKey, provisioning.CAOptions{Name: "e2e server CA"})
	if err != nil {
		t.Fatal(err)
	}
	key := mustP256(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, root, key
}

func newCloud(t *testing.T) *cloud {
	t.Helper()
	ctx := context.Background()
	c := &cloud{dir: t.TempDir()}
	caKey := mustP256(t)
	caCert, err := provisioning.CreateRootCA(caKey, provisioning.CAOptions{Name: "e2e device CA"})
	if err != nil {
		t.Fatal(err)
	}
	if c.deviceCA, err = provisioning.NewCA(caCert, caKey, nil, provisioning.CAConfig{Validity: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if c.registry, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(c.dir, "registry.db")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.registry.Close() })
	provKey := mustP256(t)
	c.provPub = &provKey.PublicKey
	if c.tokens, err = provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: provKey}); err != nil {
		t.Fatal(err)
	}
	if c.sealer, err = provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: provKey}); err != nil {
		t.Fatal(err)
	}
	verifier, err := provisioning.NewTokenVerifier(provisioning.TokenVerifierConfig{Key: &provKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}

	srvCert, srvRoot, srvKey := serverLeaf(t)
	c.serverRoot = x509.NewCertPool()
	c.serverRoot.AddCert(srvRoot)
	deviceRoots := x509.NewCertPool()
	deviceRoots.AddCert(caCert)

	// Enrolment over HTTPS.
	h, err := enroll.NewServer(enroll.ServerConfig{CA: c.deviceCA, Tokens: verifier, Registry: c.registry})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	if srv.TLS, err = provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{
		Certificate: srvCert, ClientCAs: deviceRoots, Revocation: c.registry, OptionalClientCert: true}); err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c.enrollURL = srv.URL

	// Mosquitto requiring device certificates, with a CRL.
	caFile := filepath.Join(c.dir, "device-ca.pem")
	writePEM(t, caFile, "CERTIFICATE", caCert.Raw)
	certFile := filepath.Join(c.dir, "broker.pem")
	writePEM(t, certFile, "CERTIFICATE", srvCert.Certificate[0])
	keyFile := filepath.Join(c.dir, "broker.key")
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	c.crlPath = filepath.Join(c.dir, "devices.crl")
	c.publishCRL(t)
	c.broker = testenv.StartMosquitto(t, testenv.MosquittoConfig{
		CAFile: caFile, CertFile: certFile, KeyFile: keyFile, RequireCertificate: true,
		Extra: "crlfile " + c.crlPath + "\n",
	})
	return c
}

// publishCRL writes a CRL of the given serials for the broker.
func (c *cloud) publishCRL(t *testing.T, serials ...*big.Int) {
	t.Helper()
	c.crlNumber++
	der, err := c.deviceCA.CreateCRL(serials, big.NewInt(c.crlNumber), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, c.crlPath, "X509 CRL", der)
}

// registerPatient is the stub phone app + registration API: the PHI goes
// to the PHI silo (not modelled here), which hands back a random patient
// UUID; the cloud issues an enrolment token bound to device and patient.
func (c *cloud) registerPatient(t *testing.T, dev iomt.DeviceID) (iomt.PatientID, string) {
	t.Helper()
	pat, err := iomt.NewPatientID(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := c.tokens.Issue(dev, pat)
	if err != nil {
		t.Fatal(err)
	}
	return pat, tok
}

// device is the blood-pressure monitor's firmware state.
type device struct {
	id      *provisioning.Identity
	store   *provisioning.FileStore
	pairKey *ecdsa.PrivateKey
}

// factory makes a device and registers it with its pairing key.
func factory(t *testing.T, c *cloud) *device {
	t.Helper()
	dev, _ := iomt.NewDeviceID(nil)
	key, err := provisioning.GenerateKey(provisioning.ES256, nil)
	if err != nil {
		t.Fatal(err)
	}
	pairKey, err := provisioning.GeneratePairingKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.registry.Register(context.Background(), dev, &pairKey.PublicKey); err != nil {
		t.Fatal(err)
	}
	d := &device{id: &provisioning.Identity{Device: dev, Key: key}, store: &provisioning.FileStore{Dir: t.TempDir()}, pairKey: pairKey}
	if err := d.store.Save(context.Background(), d.id); err != nil {
		t.Fatal(err)
	}
	return d
}

// pairAndEnroll runs pairing over BLE frames and HTTPS enrolment, and
// returns the patient the device was bound to.
func pairAndEnroll(t *testing.T, c *cloud, d *device) iomt.PatientID {
	t.Helper()
	ctx := context.Background()
	// Device: start a pairing session, offer the nonce over BLE.
	opener, err := provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{
		PairingKey: d.pairKey, Trusted: c.provPub, Device: d.id.Device})
	if err != nil {
		t.Fatal(err)
	}
	session, err := opener.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Phone: registers the patient, gets token; cloud seals the payload to
	// the pairing key it has on record for the device.
	pat, tok := c.registerPatient(t, d.id.Device)
	rec, err := c.registry.Lookup(ctx, d.id.Device)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := c.sealer.Seal(provisioning.PairingPayload{
		Device: d.id.Device, Nonce: session.Nonce(), SSID: "HomeNet", Passphrase: "correct horse battery",
		Security: provisioning.WiFiWPA2, Patient: pat, BrokerURL: "mqtts://" + c.broker.Addr,
		EnrollmentURL: c.enrollURL, EnrollmentToken: tok,
	}, rec.PairingKey)
	if err != nil {
		t.Fatal(err)
	}
	// Phone → device over BLE at a 185-byte MTU.
	frames, err := provisioning.SplitFrames(sealed, 185)
	if err != nil {
		t.Fatal(err)
	}
	var r provisioning.Reassembler
	var msg []byte
	for _, f := range frames {
		if msg, err = r.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	// Device: decrypt, verify, store the patient binding.
	p, err := session.Open(msg)
	if err != nil {
		t.Fatalf("device opening the pairing payload: %v", err)
	}
	p.Apply(d.id)
	if err := d.store.Save(ctx, d.id); err != nil {
		t.Fatal(err)
	}
	// Device: enrol over HTTPS with the token from the payload.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.serverRoot, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &enroll.Client{BaseURL: d.id.EnrollmentURL, HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	if err := enroll.EnrollIdentity(ctx, client, d.id, p.EnrollmentToken); err != nil {
		t.Fatalf("enrolment: %v", err)
	}
	if err := d.store.Save(ctx, d.id); err != nil {
		t.Fatal(err)
	}
	return pat
}

// connect dials the broker from the stored identity with mutual TLS and
// returns a connected MQTT v5 client.
func connect(ctx context.Context, t *testing.T, c *cloud, store provisioning.IdentityStore, onPublish func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	t.Helper()
	id, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(id.BrokerURL)
	if err != nil || u.Scheme != "mqtts" {
		t.Fatalf("broker URL from pairing: %v", err)
	}
	cfg, err := provisioning.DeviceTLSConfig(id, c.serverRoot, "")
	if err != nil {
		return nil, err
	}
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	// tls.Conn is not safe for paho's concurrent multi-part writes (the
	// pinger's PINGREQ lands inside a PUBLISH): wrap it.
	pc := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn), ClientID: id.Device.String()})
	if onPublish != nil {
		pc.AddOnPublishReceived(onPublish)
	}
	ack, err := pc.Connect(ctx, &paho.Connect{ClientID: id.Device.String(), KeepAlive: 30, CleanStart: true})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if ack.ReasonCode != 0 {
		_ = pc.Disconnect(&paho.Disconnect{})
		return nil, &connackError{ack.ReasonCode}
	}
	return pc, nil
}

type connackError struct{ code byte }

func (e *connackError) Error() string { return "connack refused" }
