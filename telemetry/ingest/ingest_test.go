package ingest_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/internal/brokertest"
	"github.com/openiomt/sdk/telemetry/publisher"
	"github.com/openiomt/sdk/telemetry/store"
)

func TestMain(m *testing.M) {
	if chaosChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

func sqliteStore(t *testing.T) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startIngest(t *testing.T, cfg ingest.Config) *ingest.Ingest {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = "ingest-" + uuid.NewString()
	}
	if cfg.Verifier == nil {
		t.Fatal("no verifier")
	}
	in, err := ingest.New(cfg)
	if err != nil {
		t.Fatalf("ingest.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		in.Close(ctx)
	})
	waitFor(t, "ingest connected and subscribed", func() bool { return in.Stats().Connected })
	time.Sleep(100 * time.Millisecond) // subscription in flight
	return in
}

func startDevice(t *testing.T, url string, dev iomt.DeviceID) *publisher.Publisher {
	t.Helper()
	p, err := publisher.New(publisher.Config{ServerURL: url, InsecurePlaintext: true, DeviceID: dev, StateDir: t.TempDir(),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func count(t *testing.T, s interface {
	Count(context.Context) (int64, error)
}) int64 {
	n, err := s.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTwoWorkersShareAndStoreExactlyOnce(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	s := sqliteStore(t)
	group := "g" + uuid.NewString()[:8]
	reg := prometheus.NewRegistry()
	f := newFleet()
	d := f.add(t, mustPat())
	w1 := startIngest(t, ingest.Config{ServerURL: b.URL, InsecurePlaintext: true, Group: group, Store: s, Registerer: reg, Verifier: f.verifier(t)})
	w2 := startIngest(t, ingest.Config{ServerURL: b.URL, InsecurePlaintext: true, Group: group, Store: s, Registerer: reg, Verifier: f.verifier(t)})
	p := startDevice(t, b.URL, d.id)
	at := time.Now().Add(-time.Hour)
	var envs [][]byte
	for i := 1; i <= 500; i++ {
		envs = append(envs, d.envelope(t, uint64(i), at.Add(time.Duration(i)*time.Second)))
		if err := p.PublishEnvelope(context.Background(), d.topic(), envs[i-1]); err != nil {
			t.Fatal(err)
		}
	}
	// The same envelopes again, as after a device crash before PUBACK.
	for i := 0; i < 50; i++ {
		p.PublishEnvelope(context.Background(), d.topic(), envs[i])
	}
	waitFor(t, "500 rows", func() bool { return count(t, s) == 500 })
	waitFor(t, "all acked", func() bool { return w1.Stats().Acked+w2.Stats().Acked == 550 })
	s1, s2 := w1.Stats(), w2.Stats()
	if s1.Received == 0 || s2.Received == 0 {
		t.Errorf("shared subscription did not spread load: %d / %d", s1.Received, s2.Received)
	}
	if s1.Stored+s2.Stored != 500 {
		t.Errorf("stored %d+%d, want 500", s1.Stored, s2.Stored)
	}
	if got := s1.Duplicates + s2.Duplicates; got != 50 {
		t.Errorf("duplicates = %d, want 50", got)
	}
	if v := testutil.ToFloat64(collector(t, reg, "iomt_ingest_stored_total")); v != 500 {
		t.Errorf("iomt_ingest_stored_total = %v, want 500", v)
	}
}

// collector sums a metric family across workers.
func collector(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sum"}, func() float64 { return sum })
}

// A poison message is counted, dead-lettered and acknowledged, and does not
// hold back the readings behind it.
func TestPoisonMessageRejectedAckedDeadLettered(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	s := sqliteStore(t)
	dl := "deadletter/" + uuid.NewString()[:8]
	dead := brokertest.Subscribe(t, b.URL, nil, "dl-"+uuid.NewString(), dl+"/#")
	f := newFleet()
	d := f.add(t, mustPat())
	in := startIngest(t, ingest.Config{ServerURL: b.URL, InsecurePlaintext: true, Group: "g" + uuid.NewString()[:8], Store: s, DeadLetterTopic: dl, MaxEnvelope: 4096, Verifier: f.verifier(t)})
	p := startDevice(t, b.URL, d.id)
	forged := forge(d.envelope(t, 1, time.Now()), d.envelope(t, 99, time.Now()))
	if err := p.PublishEnvelope(context.Background(), d.topic(), forged); err != nil {
		t.Fatal(err)
	}
	// Junk that the SDK's publisher would refuse, sent by a foreign client.
	brokertest.PublishRaw(t, b.URL, nil, "raw-"+uuid.NewString(), d.topic(), []byte("not.a.jws"))
	brokertest.PublishRaw(t, b.URL, nil, "raw-"+uuid.NewString(), d.topic(), make([]byte, 5000))
	for i := 2; i <= 11; i++ {
		p.PublishEnvelope(context.Background(), d.topic(), d.envelope(t, uint64(i), time.Now()))
	}
	waitFor(t, "10 rows", func() bool { return count(t, s) == 10 })
	waitFor(t, "13 acks", func() bool { return in.Stats().Acked == 13 })
	st := in.Stats()
	if st.RejectedBy["signature"] != 1 || st.RejectedBy["malformed"] != 1 || st.RejectedBy[ingest.ReasonSize] != 1 || st.Rejected != 3 {
		t.Fatalf("RejectedBy = %v", st.RejectedBy)
	}
	got := map[string]int{}
	timeout := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case m := <-dead:
			got[m.Topic]++
			if m.Topic == dl+"/size" && len(m.Payload) != 0 {
				t.Fatal("oversize payload forwarded to dead letter")
			}
		case <-timeout:
			t.Fatalf("dead letters: %v", got)
		}
	}
}

// Device A, holding its own valid key, publishes its envelope on device B's
// topic: the ingest rejects it (topic/device binding) and counts it.
func TestImpersonationEnvelopeOnOtherDevicesTopic(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	s := sqliteStore(t)
	f := newFleet()
	a, bdev := f.add(t, mustPat()), f.add(t, mustPat())
	in := startIngest(t, ingest.Config{ServerURL: b.URL, InsecurePlaintext: true, Group: "g" + uuid.NewString()[:8], Store: s, Verifier: f.verifier(t)})
	// The attacker publishes A's genuine envelope on B's topic with a
	// client of its own (the SDK publisher would refuse to).
	brokertest.PublishRaw(t, b.URL, nil, "raw-"+uuid.NewString(), bdev.topic(), a.envelope(t, 1, time.Now()))
	waitFor(t, "rejection", func() bool { return in.Stats().Rejected == 1 })
	if n := count(t, s); n != 0 {
		t.Fatalf("%d rows stored from an impersonating publish", n)
	}
	if in.Stats().RejectedBy["topic"] != 1 {
		t.Fatalf("RejectedBy = %v", in.Stats().RejectedBy)
	}
	// Device A signs a payload naming device B (B's kid and dev) with its
	// own key and publishes it on B's topic: the signature does not verify
	// under B's registered key.
	forged, err := telemetry.SignPayload(a.key, &telemetry.Payload{Version: telemetry.PayloadVersion, Device: bdev.id, Patient: bdev.pat,
		Seq: 7, Time: time.Now().UTC().Truncate(time.Millisecond), Kind: iomt.KindBloodPressure, Reading: bp(7, time.Now().UTC().Truncate(time.Millisecond))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	brokertest.PublishRaw(t, b.URL, nil, "raw-"+uuid.NewString(), bdev.topic(), forged)
	waitFor(t, "second rejection", func() bool { return in.Stats().Rejected == 2 })
	if in.Stats().RejectedBy["signature"] != 1 || count(t, s) != 0 {
		t.Fatalf("envelope with B's kid signed by A: RejectedBy = %v", in.Stats().RejectedBy)
	}
}

// With the broker binding certificates to topics, device A's certificate
// cannot even publish on device B's topic; the publisher counts the refusal
// and does not retry it forever.
func TestImpersonationCertificateOnOtherDevicesTopic(t *testing.T) {
	t.Parallel()
	pki := brokertest.NewPKI(t)
	b := brokertest.StartMochi(t, brokertest.MochiConfig{TLS: pki.ServerTLS(), BindDeviceTopics: true})
	s := sqliteStore(t)
	f := newFleet()
	a, bdev := f.add(t, mustPat()), f.add(t, mustPat())
	devA, devB := a.id, bdev.id
	in := startIngest(t, ingest.Config{ServerURL: b.URL, TLS: pki.ClientTLS(t, "ingest-1"), Group: "g" + uuid.NewString()[:8], Store: s, Verifier: f.verifier(t)})
	// A publisher configured as device B but holding device A's certificate.
	p, err := publisher.New(publisher.Config{ServerURL: b.URL, TLS: pki.ClientTLS(t, devA.String()), DeviceID: devB, StateDir: t.TempDir(), MinBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	// An envelope naming B (forged, since A has no B key) on B's topic.
	if err := p.PublishEnvelope(context.Background(), bdev.topic(), bdev.envelope(t, 1, time.Now())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "broker refusal", func() bool { return p.Stats().Rejected == 1 })
	if b.Denied() == 0 {
		t.Fatal("broker binding did not deny")
	}
	// Device A's genuine publish on its own topic is stored.
	pa, err := publisher.New(publisher.Config{ServerURL: b.URL, TLS: pki.ClientTLS(t, devA.String()), DeviceID: devA, StateDir: t.TempDir(), MinBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close(context.Background())
	pa.PublishEnvelope(context.Background(), a.topic(), a.envelope(t, 1, time.Now()))
	waitFor(t, "1 row", func() bool { return count(t, s) == 1 })
	if in.Stats().Stored != 1 {
		t.Fatalf("stats %+v", in.Stats())
	}
}

// flakyStore fails the first n commits, as a database failover would.
type flakyStore struct {
	store.Store
	fails atomic.Int32
}

func (f *flakyStore) Insert(ctx context.Context, rs []store.Reading) (store.InsertResult, error) {
	if f.fails.Add(-1) >= 0 {
		return store.InsertResult{}, errors.New("connection reset")
	}
	return f.Store.Insert(ctx, rs)
}

func TestStoreOutageNoAckUntilCommit(t *testing.T) {
	t.Parallel()
	b := brokertest.StartMochi(t, brokertest.MochiConfig{})
	s := sqliteStore(t)
	fs := &flakyStore{Store: s}
	fs.fails.Store(3)
	f := newFleet()
	d := f.add(t, mustPat())
	in := startIngest(t, ingest.Config{ServerURL: b.URL, InsecurePlaintext: true, Group: "g" + uuid.NewString()[:8], Store: fs, Verifier: f.verifier(t)})
	p := startDevice(t, b.URL, d.id)
	for i := 1; i <= 20; i++ {
		p.PublishEnvelope(context.Background(), d.topic(), d.envelope(t, uint64(i), time.Now()))
	}
	waitFor(t, "20 rows", func() bool { return count(t, s) == 20 })
	st := in.Stats()
	if st.CommitFailures < 3 {
		t.Fatalf("CommitFailures = %d", st.CommitFailures)
	}
	waitFor(t, "20 acks", func() bool { return in.Stats().Acked == 20 })
}

func TestIngestMosquittoPlain(t *testing.T) {
	t.Parallel()
	url := testenv.MQTTURL(t)
	s := sqliteStore(t)
	group := "g" + uuid.NewString()[:8]
	f := newFleet()
	d := f.add(t, mustPat())
	startIngest(t, ingest.Config{ServerURL: url, InsecurePlaintext: true, Group: group, Store: s, Verifier: f.verifier(t)})
	p := startDevice(t, url, d.id)
	for i := 1; i <= 100; i++ {
		p.PublishEnvelope(context.Background(), d.topic(), d.envelope(t, uint64(i), time.Now()))
	}
	// The shared broker may hold other groups' traffic; only ours counts.
	waitFor(t, "100 rows", func() bool { return count(t, s) == 100 })
}

func TestIngestMosquittoMutualTLS(t *testing.T) {
	t.Parallel()
	pki := brokertest.NewPKI(t)
	m := testenv.StartMosquitto(t, testenv.MosquittoConfig{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile, RequireCertificate: true})
	url := "mqtts://" + m.Addr
	s := sqliteStore(t)
	f := newFleet()
	d := f.add(t, mustPat())
	startIngest(t, ingest.Config{ServerURL: url, TLS: pki.ClientTLS(t, "ingest-1"), Store: s, Verifier: f.verifier(t)})
	p, err := publisher.New(publisher.Config{ServerURL: url, TLS: pki.ClientTLS(t, d.id.String()), DeviceID: d.id, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for i := 1; i <= 50; i++ {
		p.PublishEnvelope(context.Background(), d.topic(), d.envelope(t, uint64(i), time.Now()))
	}
	waitFor(t, "50 rows", func() bool { return count(t, s) == 50 })
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	v := newFleet().verifier(t)
	for name, cfg := range map[string]ingest.Config{
		"no client id":   {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, Verifier: v, Store: s},
		"no verifier":    {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, ClientID: "x", Store: s},
		"no store":       {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, ClientID: "x", Verifier: v},
		"plaintext":      {ServerURL: "mqtt://127.0.0.1:1", ClientID: "x", Verifier: v, Store: s},
		"group":          {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, ClientID: "x", Verifier: v, Store: s, Group: "a/b"},
		"dead letter":    {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, ClientID: "x", Verifier: v, Store: s, DeadLetterTopic: "iomt/v1/x"},
		"batch":          {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, ClientID: "x", Verifier: v, Store: s, BatchSize: ingest.MaxBatchSize + 1},
		"takeover id":    {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, ClientID: "w/1", Verifier: v, Store: s, Takeover: true},
		"takeover delay": {ServerURL: "mqtt://127.0.0.1:1", InsecurePlaintext: true, ClientID: "x", Verifier: v, Store: s, Takeover: true, TakeoverDelay: -time.Second},
	} {
		if _, err := ingest.New(cfg); !errors.Is(err, ingest.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		} else if strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%s: error echoes config values", name)
		}
	}
}
