package publisher_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openiomt/sdk/iomt"
	"go.uber.org/goleak"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/internal/brokertest"
	"github.com/openiomt/sdk/telemetry/outbox"
	"github.com/openiomt/sdk/telemetry/publisher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func topic(dev iomt.DeviceID) string { return "iomt/v1/" + dev.String() + "/telemetry/blood_pressure" }

func newPub(t *testing.T, cfg publisher.Config) *publisher.Publisher {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	p, err := publisher.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

func receive(t *testing.T, ch <-chan brokertest.Message, n int) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case m := <-ch:
			got[string(m.Payload)] = true
		case <-deadline:
			t.Fatalf("received %d distinct messages, want %d", len(got), n)
		}
	}
	return got
}

var (
	testKeyOnce sync.Once
	testKey     crypto.Signer
	testPat     iomt.PatientID
)

// envelope signs reading i of dev (one test key serves every device: the
// publisher does not verify signatures).
func envelope(t testing.TB, dev iomt.DeviceID, i int) []byte {
	t.Helper()
	testKeyOnce.Do(func() {
		testKey, _ = telemetry.GenerateKey(telemetry.EdDSA, nil)
		testPat, _ = iomt.NewPatientID(nil)
	})
	at := time.Now().UTC().Truncate(time.Millisecond)
	env, err := telemetry.SignPayload(testKey, &telemetry.Payload{Version: telemetry.PayloadVersion, Device: dev, Patient: testPat,
		Seq: uint64(i + 1), Time: at, Kind: iomt.KindBloodPressure,
		Reading: iomt.BloodPressure{Systolic: 120, Diastolic: 80, Unit: iomt.MmHg, MeasuredAt: at}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func publishN(t *testing.T, p *publisher.Publisher, dev iomt.DeviceID, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := p.PublishEnvelope(context.Background(), topic(dev), envelope(t, dev, i)); err != nil {
			t.Fatalf("PublishEnvelope %d: %v", i, err)
		}
	}
}

func waitDrained(t *testing.T, p *publisher.Publisher) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().Queued > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublishEmbeddedBroker(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	ch := brokertest.Subscribe(t, b.URL, nil, "sub-"+uuid.NewString(), "iomt/v1/+/telemetry/+")
	dev := newDev()
	p := newPub(t, publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: dev})
	publishN(t, p, dev, 0, 200)
	receive(t, ch, 200)
	waitDrained(t, p)
	st := p.Stats()
	if st.Acked < 200 || st.Queued != 0 || st.Connects < 1 || !st.Connected {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestPublishMutualTLSEmbeddedBroker(t *testing.T) {
	t.Parallel()
	pki := brokertest.NewPKI(t)
	b := brokertest.StartMochi(t, brokertest.MochiConfig{TLS: pki.ServerTLS(), BindDeviceTopics: true})
	ch := brokertest.Subscribe(t, b.URL, pki.ClientTLS(t, "ingest-test"), "sub-"+uuid.NewString(), "iomt/v1/+/telemetry/+")
	dev := newDev()
	var calls atomic.Int32
	cert := pki.ClientCert(t, dev.String())
	tlsCfg := &tls.Config{RootCAs: pki.Pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		calls.Add(1)
		return &cert, nil
	}}
	p := newPub(t, publisher.Config{ServerURL: b.URL, TLS: tlsCfg, DeviceID: dev})
	publishN(t, p, dev, 0, 20)
	receive(t, ch, 20)
	// A restarted broker makes the device reconnect: the certificate is
	// fetched again, so a rotated one would be used.
	b.Stop()
	b.Start()
	publishN(t, p, dev, 20, 5)
	waitDrained(t, p)
	if calls.Load() < 2 {
		t.Fatalf("GetClientCertificate called %d times, want a call per connection", calls.Load())
	}
}

func TestPublishMosquittoTLSRequireCertificate(t *testing.T) {
	t.Parallel()
	pki := brokertest.NewPKI(t)
	m := testenv.StartMosquitto(t, testenv.MosquittoConfig{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile, RequireCertificate: true})
	url := "mqtts://" + m.Addr
	ch := brokertest.Subscribe(t, url, pki.ClientTLS(t, "ingest-test"), "sub-"+uuid.NewString(), "iomt/v1/+/telemetry/+")
	dev := newDev()
	p := newPub(t, publisher.Config{ServerURL: url, TLS: pki.ClientTLS(t, dev.String()), DeviceID: dev})
	publishN(t, p, dev, 0, 100)
	receive(t, ch, 100)
	waitDrained(t, p)

	// Without a client certificate the broker refuses the connection.
	noCert := &tls.Config{RootCAs: pki.Pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &tls.Certificate{}, nil
	}}
	dev2 := newDev()
	p2 := newPub(t, publisher.Config{ServerURL: url, TLS: noCert, DeviceID: dev2})
	publishN(t, p2, dev2, 0, 1)
	time.Sleep(500 * time.Millisecond)
	if st := p2.Stats(); st.Connects != 0 || st.Queued != 1 {
		t.Fatalf("device without certificate connected: %+v", st)
	}
}

func TestPublishMosquittoPlain(t *testing.T) {
	t.Parallel()
	url := testenv.MQTTURL(t)
	dev := newDev()
	ch := brokertest.Subscribe(t, url, nil, "sub-"+uuid.NewString(), topic(dev))
	p := newPub(t, publisher.Config{ServerURL: url, InsecurePlaintext: true, DeviceID: dev})
	publishN(t, p, dev, 0, 100)
	receive(t, ch, 100)
	waitDrained(t, p)
}

// Readings taken while the broker is down are delivered once it returns,
// also when the device restarts in between.
func TestOfflineBacklogDeliveredAfterRestart(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	b.Stop()
	dev := newDev()
	dir := t.TempDir()
	p, err := publisher.New(publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: dev, StateDir: dir,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, p, dev, 0, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = p.Close(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with undelivered entries = %v, want DeadlineExceeded", err)
	}
	b.Start()
	ch := brokertest.Subscribe(t, b.URL, nil, "sub-"+uuid.NewString(), "iomt/v1/+/telemetry/+")
	p2 := newPub(t, publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: dev, StateDir: dir})
	receive(t, ch, 50)
	waitDrained(t, p2)
}

func TestOutboxFullRejectsNewReadings(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	b.Stop()
	dev := newDev()
	p := newPub(t, publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: dev, Outbox: outbox.Config{MaxEntries: 5}})
	publishN(t, p, dev, 0, 5)
	if err := p.PublishEnvelope(context.Background(), topic(dev), envelope(t, dev, 99)); !errors.Is(err, publisher.ErrOutboxFull) {
		t.Fatalf("6th reading = %v, want ErrOutboxFull", err)
	}
	if q := p.Stats().Queued; q != 5 {
		t.Fatalf("queued %d, want 5 (nothing dropped)", q)
	}
}

// A compromised or buggy application must not publish as another device.
func TestImpersonationTopicOfOtherDeviceRefused(t *testing.T) {
	t.Parallel()
	dev := newDev()
	p := newPub(t, publisher.Config{ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, DeviceID: dev})
	for _, tp := range []string{topic(newDev()), "iomt/v1/" + dev.String() + "/", "iomt/v1/" + dev.String() + "/telemetry/#", "other/topic", ""} {
		if err := p.PublishEnvelope(context.Background(), tp, []byte("x")); !errors.Is(err, publisher.ErrTopic) {
			t.Errorf("topic %q: %v, want ErrTopic", tp, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	dev := newDev()
	dir := t.TempDir()
	for name, cfg := range map[string]publisher.Config{
		"plaintext without Insecure": {ServerURL: "mqtt://127.0.0.1:1883", DeviceID: dev, StateDir: dir},
		"TLS without client cert":    {ServerURL: "mqtts://127.0.0.1:8883", DeviceID: dev, StateDir: dir, TLS: &tls.Config{}},
		"no device":                  {ServerURL: "mqtt://127.0.0.1:1883", InsecurePlaintext: true, StateDir: dir},
		"no state dir":               {ServerURL: "mqtt://127.0.0.1:1883", InsecurePlaintext: true, DeviceID: dev},
		"bad scheme":                 {ServerURL: "http://127.0.0.1", InsecurePlaintext: true, DeviceID: dev, StateDir: dir},
		"negative session expiry":    {ServerURL: "mqtt://127.0.0.1:1883", InsecurePlaintext: true, DeviceID: dev, StateDir: dir, SessionExpiry: -1},
		"AWS IoT plaintext":          {ServerURL: "mqtt://127.0.0.1:1883", InsecurePlaintext: true, DeviceID: dev, StateDir: dir, AWSIoT: true},
	} {
		if _, err := publisher.New(cfg); !errors.Is(err, publisher.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func TestAWSIoTLimits(t *testing.T) {
	t.Parallel()
	dev := newDev()
	cert := brokertest.NewPKI(t).ClientCert(t, dev.String())
	p := newPub(t, publisher.Config{ServerURL: "mqtts://127.0.0.1:1", DeviceID: dev, AWSIoT: true,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err := p.PublishEnvelope(context.Background(), topic(dev), make([]byte, publisher.AWSIoTMaxPayload+1)); !errors.Is(err, publisher.ErrTooLarge) {
		t.Fatalf("129 KiB payload: %v, want ErrTooLarge", err)
	}
	deep := "iomt/v1/" + dev.String() + "/a/b/c/d/e/f"
	if err := p.PublishEnvelope(context.Background(), deep, []byte("x")); !errors.Is(err, publisher.ErrTopic) {
		t.Fatalf("9-level topic: %v, want ErrTopic", err)
	}
}

func TestCloseIsIdempotentAndRefusesNew(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	dev := newDev()
	p := newPub(t, publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: dev})
	publishN(t, p, dev, 0, 10)
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.PublishEnvelope(context.Background(), topic(dev), envelope(t, dev, 99)); !errors.Is(err, publisher.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	<-p.Done()
}

// Device builds must not link cloud dependencies.
func TestDeviceBuildLinksNoCloudDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/openiomt/sdk/telemetry/publisher").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "database/sql" {
			t.Errorf("publisher links database/sql")
		}
		for _, banned := range []string{"github.com/jackc/", "modernc.org/", "github.com/prometheus/", "github.com/mochi-mqtt/", "github.com/lib/pq", "net/http/httptest", "net/http/pprof"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("publisher links %s", dep)
			}
		}
	}
}

func TestStateDirPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	newPub(t, publisher.Config{ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, DeviceID: newDev(), StateDir: dir})
	for _, d := range []string{dir, filepath.Join(dir, "outbox")} {
		st, err := osStat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", d, st.Mode().Perm())
		}
	}
}

// Mosquitto answers "no matching subscribers" (0x10) and drops the message
// when nobody subscribes, as right after a broker restart before the ingest
// re-subscribes. The publisher keeps such messages and retries them.
func TestNoMatchingSubscribersKeptAndRetried(t *testing.T) {
	t.Parallel()
	m := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	url := "mqtt://" + m.Addr
	dev := newDev()
	p := newPub(t, publisher.Config{ServerURL: url, InsecurePlaintext: true, DeviceID: dev})
	publishN(t, p, dev, 0, 10)
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().NoSubscribers == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := p.Stats(); st.NoSubscribers == 0 || st.Queued != 10 {
		t.Fatalf("without subscribers: %+v", st)
	}
	ch := brokertest.Subscribe(t, url, nil, "sub-"+uuid.NewString(), "iomt/v1/+/telemetry/+")
	receive(t, ch, 10)
	waitDrained(t, p)
}

func newDev() iomt.DeviceID {
	id, err := iomt.NewDeviceID(nil)
	if err != nil {
		panic(err)
	}
	return id
}

func TestPublishSignsReadings(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	ch := brokertest.Subscribe(t, b.URL, nil, "sub-"+uuid.NewString(), "iomt/v1/+/telemetry/+")
	dev := newDev()
	pat, _ := iomt.NewPatientID(nil)
	key, err := telemetry.GenerateKey(telemetry.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := telemetry.NewSigner(telemetry.SignerConfig{Key: key, Device: dev, Patient: pat, Sequence: telemetry.NewMemorySequence(0)})
	if err != nil {
		t.Fatal(err)
	}
	p := newPub(t, publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: dev, Signer: signer})
	at := time.Now().Add(-time.Minute)
	if err := p.Publish(context.Background(), iomt.BloodPressure{Systolic: 118, Diastolic: 76, Unit: iomt.MmHg, MeasuredAt: at}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	// A reading that fails validation is refused before it is queued.
	if err := p.Publish(context.Background(), iomt.BloodPressure{Systolic: 999, Diastolic: 76, MeasuredAt: at}); err == nil {
		t.Fatal("invalid reading accepted")
	}
	res := &telemetry.MemoryResolver{}
	res.Add(dev, key.Public())
	v, _ := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: res})
	select {
	case m := <-ch:
		pl, err := v.VerifyTopic(context.Background(), m.Topic, m.Payload)
		if err != nil {
			t.Fatalf("published envelope does not verify: %v", err)
		}
		if pl.Device != dev || pl.Seq != 1 {
			t.Fatalf("payload %+v", pl)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing published")
	}
	waitDrained(t, p)
	if p.Stats().Queued != 0 {
		t.Fatal("invalid reading queued")
	}
	other := newDev()
	if _, err := publisher.New(publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: other, Signer: signer, StateDir: t.TempDir()}); !errors.Is(err, publisher.ErrConfig) {
		t.Fatalf("signer for another device accepted: %v", err)
	}
	p2 := newPub(t, publisher.Config{ServerURL: b.URL, InsecurePlaintext: true, DeviceID: other})
	if err := p2.Publish(context.Background(), iomt.HeartRate{}); !errors.Is(err, publisher.ErrNoSigner) {
		t.Fatalf("Publish without signer: %v", err)
	}
}

// A device application bug or compromise must not push PHI or a malformed
// or foreign envelope through the publisher.
func TestPHISmugglingRefusedByPublisher(t *testing.T) {
	t.Parallel()
	dev := newDev()
	p := newPub(t, publisher.Config{ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, DeviceID: dev})
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hdr := b64(`{"alg":"EdDSA","kid":"` + dev.String() + `","typ":"iomt-telemetry+jws"}`)
	pat, _ := iomt.NewPatientID(nil)
	base := `{"v":1,"dev":"` + dev.String() + `","pat":"` + pat.String() + `","seq":1,"ts":"2026-01-01T00:00:00Z","kind":"blood_pressure","data":`
	for name, payload := range map[string]string{
		"string in data": base + `{"sys":120,"dia":80,"unit":0,"status":0,"note":"Jane Doe"}}`,
		"unknown member": base + `{"sys":120,"dia":80,"unit":0,"status":0},"name":"Jane Doe"}`,
		"other device":   strings.Replace(base, dev.String(), newDev().String(), 1) + `{"sys":120,"dia":80,"unit":0,"status":0}}`,
	} {
		env := []byte(hdr + "." + b64(payload) + ".c2ln")
		err := p.PublishEnvelope(context.Background(), topic(dev), env)
		if !errors.Is(err, publisher.ErrEnvelope) {
			t.Errorf("%s: %v, want ErrEnvelope", name, err)
		} else if strings.Contains(err.Error(), "Jane") {
			t.Errorf("%s: error echoes the value", name)
		}
	}
	for _, junk := range []string{"", "plain text", "a.b", "a.!!!.c"} {
		if err := p.PublishEnvelope(context.Background(), topic(dev), []byte(junk)); !errors.Is(err, publisher.ErrEnvelope) {
			t.Errorf("%q: %v, want ErrEnvelope", junk, err)
		}
	}
	if q := p.Stats().Queued; q != 0 {
		t.Fatalf("%d refused envelopes queued", q)
	}
}

// AWS IoT Core cannot be reached from the test machine; a local TLS
// listener proves what the client offers: ALPN x-amzn-mqtt-ca and its
// client certificate.
func TestAWSIoTOffersALPNToLocalTLSListener(t *testing.T) {
	t.Parallel()
	dev := newDev()
	pki := brokertest.NewPKI(t)
	type hello struct {
		protos []string
		cert   bool
	}
	got := make(chan hello, 16)
	srv := pki.ServerTLS().Clone()
	srv.NextProtos = []string{publisher.AWSIoTALPN}
	srv.VerifyConnection = func(cs tls.ConnectionState) error {
		select {
		case got <- hello{protos: []string{cs.NegotiatedProtocol}, cert: len(cs.PeerCertificates) > 0}:
		default:
		}
		return nil
	}
	offered := make(chan []string, 16)
	srv.GetConfigForClient = func(ch *tls.ClientHelloInfo) (*tls.Config, error) {
		select {
		case offered <- ch.SupportedProtos:
		default:
		}
		return nil, nil
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Complete the handshake, then hang up: no MQTT here.
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	newPub(t, publisher.Config{ServerURL: "mqtts://" + ln.Addr().String(), DeviceID: dev, AWSIoT: true,
		TLS: pki.ClientTLS(t, dev.String())})
	select {
	case p := <-offered:
		if len(p) != 1 || p[0] != "x-amzn-mqtt-ca" {
			t.Fatalf("client offered ALPN %q, want [x-amzn-mqtt-ca]", p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no TLS ClientHello within 30 s")
	}
	select {
	case h := <-got:
		if h.protos[0] != "x-amzn-mqtt-ca" || !h.cert {
			t.Fatalf("negotiated %q, client certificate %v", h.protos[0], h.cert)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("TLS handshake did not complete within 30 s")
	}
}

func TestAWSIoTTopicOver256BytesRefused(t *testing.T) {
	t.Parallel()
	dev := newDev()
	cert := brokertest.NewPKI(t).ClientCert(t, dev.String())
	p := newPub(t, publisher.Config{ServerURL: "mqtts://127.0.0.1:1", DeviceID: dev, AWSIoT: true,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	long := "iomt/v1/" + dev.String() + "/" + strings.Repeat("k", publisher.AWSIoTMaxTopicBytes)
	if err := p.PublishEnvelope(context.Background(), long, []byte("x")); !errors.Is(err, publisher.ErrTopic) {
		t.Fatalf("%d-byte topic: %v, want ErrTopic", len(long), err)
	}
}
