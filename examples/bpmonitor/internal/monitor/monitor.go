// Package monitor is the simulated blood-pressure monitor: the device
// firmware of the example, built only from the SDK's device-side packages
// (no SQL drivers, no HTTP servers, no web UI), so it also compiles into the
// small device binary examples/bpmonitor/cmd/monitor.
//
// # Life cycle
//
//  1. Factory ([Manufacture]): device UUID, device key and pairing key are
//     generated and stored in the device directory (0700, keys 0600); the
//     public pairing key is what the cloud's registry learns.
//  2. Pairing ([Monitor.StartPairing], [Monitor.ReceiveFrame]): the monitor
//     offers a one-time nonce over Bluetooth; the phone hands back the
//     cloud-signed, device-encrypted pairing payload in BLE frames; the
//     monitor reassembles, decrypts and verifies it and stores the patient
//     UUID, broker and enrolment URLs.
//  3. Enrolment ([Monitor.Enroll]): single-use token + CSR over HTTPS, the
//     certificate chain comes back and is stored.
//  4. Measuring ([Monitor.Run]): each reading is encoded by the simulated
//     cuff as the Bluetooth Blood Pressure Measurement characteristic
//     (0x2A35), decoded with iomt/ble as the real firmware would, signed
//     with the device key and queued in the durable outbox, which sends it
//     over mutual-TLS MQTT v5 and keeps it until the broker's PUBACK.
package monitor

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/sim"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/iomt/ble"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/publisher"
)

// Errors of the monitor.
var (
	// ErrNotPaired: the monitor has no patient binding yet.
	ErrNotPaired = errors.New("monitor: not paired")
	// ErrNotEnrolled: the monitor has no certificate yet.
	ErrNotEnrolled = errors.New("monitor: not enrolled")
	// ErrNoPairingSession: a frame arrived without StartPairing.
	ErrNoPairingSession = errors.New("monitor: no pairing session")
)

// Factory facts stored beside the identity.
const pairingKeyFile = "pairing.key"

// Manufacture creates a device in dir: UUID, device key, pairing key. It
// returns the identity and the public pairing key for the registry.
func Manufacture(ctx context.Context, dir string) (*provisioning.Identity, *ecdsa.PublicKey, error) {
	id, err := iomt.NewDeviceID(nil)
	if err != nil {
		return nil, nil, err
	}
	key, err := provisioning.GenerateKey(provisioning.ES256, nil)
	if err != nil {
		return nil, nil, err
	}
	pk, err := provisioning.GeneratePairingKey(nil)
	if err != nil {
		return nil, nil, err
	}
	ident := &provisioning.Identity{Device: id, Key: key}
	if err := (&provisioning.FileStore{Dir: dir}).Save(ctx, ident); err != nil {
		return nil, nil, err
	}
	pemBytes, err := provisioning.MarshalPrivateKeyPEM(pk)
	if err != nil {
		return nil, nil, err
	}
	if err := provisioning.WriteFileAtomic(filepath.Join(dir, pairingKeyFile), pemBytes, 0o600); err != nil {
		return nil, nil, err
	}
	return ident, &pk.PublicKey, nil
}

// Config configures [Open]. Dir, ServerRoots and ProvisioningKey are required.
type Config struct {
	// Dir is the device directory written by Manufacture; the outbox,
	// session and sequence files live below it.
	Dir string
	// ServerRoots verifies the cloud's TLS servers ("baked into firmware").
	ServerRoots *x509.CertPool
	// ProvisioningKey is the cloud's public key that signs pairing payloads.
	ProvisioningKey crypto.PublicKey
	// BrokerAddr, when set, replaces the host:port of the paired broker URL
	// (the example points it at a drop-out proxy). TLS still verifies the
	// broker's certificate.
	BrokerAddr string
	// APIURL, when set, is the cloud API origin for update checks instead
	// of the enrolment URL from pairing (a cloud that moved).
	APIURL string
	// Profile and Rand drive the simulated cuff.
	Profile sim.Profile
	Rand    *rand.Rand
	// Name is how the story calls this monitor; empty means a UUID prefix.
	Name string
	// Story receives what the monitor does; nil prints nothing.
	Story *story.Printer
	// Logger receives operational messages (never PHI); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Monitor is one simulated device.
type Monitor struct {
	cfg   Config
	store *provisioning.FileStore
	gen   *sim.Generator

	mu      sync.Mutex
	id      *provisioning.Identity
	opener  *provisioning.PairingOpener
	session *provisioning.PairingSession
	reasm   provisioning.Reassembler
	pub     *publisher.Publisher
	signer  *telemetry.Signer
	seq     *telemetry.FileSequence
	// enrolToken is the single-use token from the pairing payload, kept
	// in memory only until enrolment.
	enrolToken string
	// tried lists the campaigns CheckForUpdates ran in this process.
	tried map[string]bool
}

// Open loads the device in cfg.Dir.
func Open(ctx context.Context, cfg Config) (*Monitor, error) {
	if cfg.Dir == "" || cfg.ServerRoots == nil || cfg.ProvisioningKey == nil {
		return nil, errors.New("monitor: Dir, ServerRoots and ProvisioningKey are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{cfg: cfg, store: &provisioning.FileStore{Dir: cfg.Dir}, gen: sim.NewGenerator(cfg.Profile, cfg.Rand)}
	id, err := m.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	m.id = id
	if m.cfg.Name == "" {
		m.cfg.Name = "monitor " + story.Short(id.Device)
	}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, pairingKeyFile))
	if err != nil {
		return nil, err
	}
	pk, err := provisioning.ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, err
	}
	epk, ok := pk.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("monitor: pairing key is not ECDSA P-256")
	}
	m.opener, err = provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{
		PairingKey: epk, Trusted: cfg.ProvisioningKey, Device: id.Device, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Device is the monitor's UUID.
func (m *Monitor) Device() iomt.DeviceID { return m.id.Device }

// Name is the monitor's story name.
func (m *Monitor) Name() string { return m.cfg.Name }

// Patient is the patient the monitor is paired with (zero before pairing).
func (m *Monitor) Patient() iomt.PatientID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id.Patient
}

// Paired reports whether the monitor is bound to a patient.
func (m *Monitor) Paired() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.id.Patient.IsZero()
}

// Enrolled reports whether the monitor holds a certificate.
func (m *Monitor) Enrolled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.id.Chain) > 0
}

// StartPairing opens a pairing session and returns the one-time nonce the
// monitor advertises over Bluetooth.
func (m *Monitor) StartPairing() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.opener.NewSession(nil)
	if err != nil {
		return nil, err
	}
	m.session = s
	m.reasm.Reset()
	return s.Nonce(), nil
}

// ReceiveFrame takes one BLE write of the pairing payload. When the last
// frame completes the payload, it is decrypted and verified, and the patient
// binding, broker and enrolment URLs are stored; done is then true.
func (m *Monitor) ReceiveFrame(ctx context.Context, frame []byte) (done bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session == nil {
		return false, ErrNoPairingSession
	}
	msg, err := m.reasm.Add(frame)
	if err != nil || msg == nil {
		return false, err
	}
	p, err := m.session.Open(msg)
	m.session = nil
	if err != nil {
		return false, err
	}
	p.Apply(m.id)
	if err := m.store.Save(ctx, m.id); err != nil {
		return false, err
	}
	m.cfg.Story.Tell(m.cfg.Name, "paired over Bluetooth: payload verified (cloud signature, nonce, expiry), patient %s", story.Short(m.id.Patient))
	m.enrolToken = p.EnrollmentToken
	return true, nil
}

// httpClient trusts only the cloud's roots.
func (m *Monitor) httpClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: m.cfg.ServerRoots},
	}}
}

// Enroll presents the single-use token from pairing and a CSR to the
// enrolment service and stores the certificate chain it returns.
func (m *Monitor) Enroll(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.id.Patient.IsZero() || m.enrolToken == "" {
		return ErrNotPaired
	}
	c := &enroll.Client{BaseURL: m.id.EnrollmentURL, HTTPClient: m.httpClient()}
	if err := enroll.EnrollIdentity(ctx, c, m.id, m.enrolToken); err != nil {
		return err
	}
	m.enrolToken = ""
	if err := m.store.Save(ctx, m.id); err != nil {
		return err
	}
	m.cfg.Story.Tell(m.cfg.Name, "enrolled: certificate %x… issued by the manufacturer CA", m.id.Chain[0].SerialNumber.Bytes()[:4])
	return nil
}

// connect starts the signer and the publisher once enrolled.
func (m *Monitor) connect() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pub != nil {
		return nil
	}
	if len(m.id.Chain) == 0 {
		return ErrNotEnrolled
	}
	seq, err := telemetry.OpenFileSequence(telemetry.FileSequenceConfig{Path: filepath.Join(m.cfg.Dir, "sequence")})
	if err != nil {
		return err
	}
	signer, err := telemetry.NewSigner(telemetry.SignerConfig{Key: m.id.Key, Device: m.id.Device, Patient: m.id.Patient, Sequence: seq})
	if err != nil {
		return err
	}
	tlsCfg, err := provisioning.DeviceTLSConfig(m.id, m.cfg.ServerRoots, "")
	if err != nil {
		return err
	}
	pcfg := publisher.Config{
		ServerURL: m.id.BrokerURL, DeviceID: m.id.Device, TLS: tlsCfg,
		StateDir: filepath.Join(m.cfg.Dir, "mqtt"), Logger: m.cfg.Logger.With("device", m.id.Device.String()),
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 3 * time.Second,
	}
	if m.cfg.BrokerAddr != "" {
		addr := m.cfg.BrokerAddr
		pcfg.Dial = func(ctx context.Context, _ string, t *tls.Config) (net.Conn, error) {
			d := &tls.Dialer{Config: t}
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	pub, err := publisher.New(pcfg)
	if err != nil {
		return err
	}
	m.seq, m.signer, m.pub = seq, signer, pub
	return nil
}

// Measure takes one reading at time at: the cuff encodes it as 0x2A35, the
// firmware decodes it with iomt/ble, signs it and queues it durably. It
// returns once the signed reading is fsynced in the outbox.
func (m *Monitor) Measure(ctx context.Context, at time.Time) (iomt.BloodPressure, uint64, error) {
	if err := m.connect(); err != nil {
		return iomt.BloodPressure{}, 0, err
	}
	raw := m.gen.Next(at.UTC().Truncate(time.Second))
	gatt, err := ble.AppendBloodPressure(nil, ble.BloodPressureMeasurement{BloodPressure: raw, UserID: 1, HasUserID: true, HasStatus: true})
	if err != nil {
		return iomt.BloodPressure{}, 0, fmt.Errorf("cuff encode: %w", err)
	}
	dec, err := ble.DecodeBloodPressure(gatt)
	if err != nil {
		return iomt.BloodPressure{}, 0, fmt.Errorf("0x2A35 decode: %w", err)
	}
	env, err := m.signer.Sign(ctx, dec.BloodPressure)
	if err != nil {
		return iomt.BloodPressure{}, 0, err
	}
	if err := m.pub.PublishEnvelope(ctx, env.Topic(), env.Compact); err != nil {
		return iomt.BloodPressure{}, 0, err
	}
	return dec.BloodPressure, env.Payload.Seq, nil
}

// Stats returns the publisher's counters (zero before connecting).
func (m *Monitor) Stats() publisher.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pub == nil {
		return publisher.Stats{}
	}
	return m.pub.Stats()
}

// Close stops the publisher (the outbox keeps what is unsent) and the
// sequence store.
func (m *Monitor) Close(ctx context.Context) error {
	m.mu.Lock()
	pub, seq := m.pub, m.seq
	m.pub, m.seq = nil, nil
	m.mu.Unlock()
	var errs []error
	if pub != nil {
		errs = append(errs, pub.Close(ctx))
	}
	if seq != nil {
		errs = append(errs, seq.Close())
	}
	return errors.Join(errs...)
}

// Files of the cloud's trust material that device firmware bakes in.
const (
	OperatorCAFile      = "operator-ca.pem"
	ProvisioningPubFile = "provisioning.pub.pem"
)

// LoadFirmwareTrust reads what a device build bakes in from dir: the roots
// that verify the cloud's TLS servers and the public key that signs pairing
// payloads.
func LoadFirmwareTrust(dir string) (*x509.CertPool, crypto.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, OperatorCAFile))
	if err != nil {
		return nil, nil, err
	}
	certs, err := provisioning.ParseCertificatesPEM(b)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	pb, err := os.ReadFile(filepath.Join(dir, ProvisioningPubFile))
	if err != nil {
		return nil, nil, err
	}
	blk, _ := pem.Decode(pb)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, nil, errors.New("monitor: provisioning key is not a PUBLIC KEY PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	return pool, pub, err
}
