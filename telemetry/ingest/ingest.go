package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openiomt/sdk/internal/mqttconn"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/store"
)

// Defaults for zero Config fields.
const (
	DefaultGroup          = "iomt-ingest"
	DefaultBatchSize      = 256
	DefaultMaxInFlight    = 2048
	DefaultMaxEnvelope    = 16 << 10
	DefaultSessionExpiry  = time.Hour
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	// MaxBatchSize bounds Config.BatchSize (the store's limit).
	MaxBatchSize = store.MaxBatch
)

// Rejection reasons used besides the verifier's own (see Config.Rule).
const (
	ReasonSize     = "size"     // payload above Config.MaxEnvelope
	ReasonTopic    = "topic"    // topic not iomt/v1/{device}/telemetry/{kind} or device differs
	ReasonStore    = "store"    // the store refused the reading as invalid
	ReasonRejected = "rejected" // the verifier gave no rule name
)

// Errors returned by New.
var (
	// ErrConfig reports an unusable Config, wrapped with the field name.
	ErrConfig = errors.New("ingest: invalid config")
	// ErrClosed is returned by Close after the first call.
	ErrClosed = errors.New("ingest: closed")
)

// Accepted is an envelope the verifier accepted: the reading to store and
// an opaque token handed back to Commit after the store commit.
type Accepted struct {
	Reading store.Reading
	Token   any
}

// Verifier checks one envelope received on topic. Check must not record
// anything (no replay-window update): the ingest calls Commit only after
// the reading is durably stored, so a redelivery after a failed store is
// still accepted. *telemetry.Verifier satisfies it through [FromTelemetry].
type Verifier interface {
	Check(ctx context.Context, topic string, envelope []byte) (Accepted, error)
	Commit(ctx context.Context, a Accepted) error
}

// Config configures an Ingest worker. Required fields are marked; other
// zero fields take the default named beside them. New copies Config.
type Config struct {
	// ServerURL is the broker (required): mqtts:// (or tls://, ssl://), or
	// mqtt:// with InsecurePlaintext.
	ServerURL string
	// ClientID identifies this worker to the broker (required, unique per
	// worker, stable across restarts): a restarted worker resumes its
	// session and receives the messages it had not acknowledged.
	ClientID string
	// Group is the shared-subscription group (DefaultGroup). Every worker
	// of one group shares $share/{Group}/iomt/v1/+/telemetry/+.
	Group string
	// TLS configures mutual TLS; MinVersion is raised to TLS 1.2.
	TLS *tls.Config
	// InsecurePlaintext allows mqtt:// without TLS: readings and
	// acknowledgements travel in clear and anyone on the path can inject.
	// Loopback and tests only.
	InsecurePlaintext bool
	// Verifier checks envelopes (required).
	Verifier Verifier
	// Store receives accepted readings (required).
	Store store.Store
	// Rule names the rejection rule of a Verifier error for metrics and
	// logs. Nil means telemetry.Rule; an empty name becomes "rejected".
	Rule func(error) string
	// BatchSize bounds the messages committed together (DefaultBatchSize,
	// at most MaxBatchSize). A batch takes whatever has arrived; under load
	// batches grow by themselves.
	BatchSize int
	// BatchDelay is how long a batch may wait for more messages before
	// committing. Zero commits as soon as nothing else is waiting (lowest
	// latency); a few milliseconds trade latency for fewer, larger commits.
	BatchDelay time.Duration
	// Verifiers is the number of goroutines verifying signatures
	// (GOMAXPROCS when 0).
	Verifiers int
	// MaxInFlight is the MQTT Receive Maximum: unacknowledged messages the
	// broker may send this worker (DefaultMaxInFlight).
	MaxInFlight int
	// MaxEnvelope bounds an accepted payload (DefaultMaxEnvelope); larger
	// ones are rejected with reason "size" before any parsing.
	MaxEnvelope int
	// DeadLetterTopic, when set, receives every rejected message at QoS 1
	// on DeadLetterTopic/{reason} with the original topic as user property
	// "topic" (the envelope carries no PHI; oversize payloads are not
	// forwarded).
	DeadLetterTopic string
	// SessionExpiry is the worker's MQTT session expiry (DefaultSessionExpiry).
	SessionExpiry time.Duration
	// KeepAlive is the MQTT keep-alive (DefaultKeepAlive).
	KeepAlive time.Duration
	// Registerer, when set, gets the worker's Prometheus metrics, labelled
	// worker=ClientID.
	Registerer prometheus.Registerer
	// Logger receives events; never payloads. Nil discards.
	Logger *slog.Logger
	// OnCommit, when set, is called after each successful store commit
	// with the readings of the batch (in no particular order). It must
	// not block for long and must not retain the slice.
	OnCommit func(readings []store.Reading, res store.InsertResult)
	// Now returns the time for metrics (nil: time.Now).
	Now func() time.Time
	// Takeover makes the workers of the group drain the sessions of
	// workers that died, so a crashed worker's unacknowledged messages
	// reach the survivors even if it never comes back (brokers such as
	// Mosquitto 2 and mochi-mqtt keep them in the dead worker's session,
	// and keep routing it its share of new messages). Each worker
	// publishes its liveness, retained, on PresenceTopic(Group, ClientID)
	// with a Will of "dead"; see the package documentation. ClientID must
	// then not contain '/', '+' or '#'.
	Takeover bool
	// TakeoverDelay is how long a dead worker has to come back before a
	// survivor drains its session (DefaultTakeoverDelay).
	TakeoverDelay time.Duration
}

// Stats is a snapshot of a worker's counters.
type Stats struct {
	Received, Stored, Duplicates, Rejected, Acked uint64
	// RejectedBy counts rejections by reason.
	RejectedBy map[string]uint64
	// CommitFailures counts store commits that failed and were retried.
	CommitFailures uint64
	// DeadLetterFailures counts dead-letter publishes that failed.
	DeadLetterFailures uint64
	// Connected reports whether the worker has a broker connection.
	Connected bool
}

type job struct {
	client *paho.Client
	pkt    *paho.Publish
	owner  *owner // non-nil for messages of a takeover connection
}

type result struct {
	job
	acc    Accepted
	reason string // empty when accepted
}

// Ingest is one ingest worker: a shared-subscription consumer that
// verifies, stores and acknowledges. Run any number of them.
type Ingest struct {
	cfg    Config
	log    *slog.Logger
	filter string
	cm     *autopaho.ConnectionManager
	m      *metrics
	url    *url.URL
	tlsCfg *tls.Config

	presencePrefix string // PresenceTopic(Group, "") with Takeover
	peers          peers
	tkCtx          context.Context
	tkCancel       context.CancelFunc
	tkWG           sync.WaitGroup
	drains         atomic.Int64 // takeover connection attempts, for tests
	cmUp           atomic.Pointer[autopaho.ConnectionManager]

	ctx     context.Context
	cancel  context.CancelFunc
	cmStop  context.CancelFunc
	jobs    chan job
	results chan result
	wg      sync.WaitGroup
	pending atomic.Int64
	once    sync.Once
	closed  chan struct{}

	batcherDone chan struct{}

	mu         sync.Mutex
	rejectedBy map[string]uint64
	received, stored, dups, rejected, acked,
	commitFail, dlFail atomic.Uint64
	connected atomic.Bool
}

// New validates cfg, connects in the background and starts consuming.
func New(cfg Config) (*Ingest, error) {
	u, tlsCfg, err := prepare(&cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{
		cfg: cfg, log: log,
		filter:     "$share/" + cfg.Group + "/" + telemetry.TelemetryFilter,
		jobs:       make(chan job, cfg.MaxInFlight),
		results:    make(chan result, cfg.MaxInFlight),
		rejectedBy: map[string]uint64{},
		closed:     make(chan struct{}),
		url:        u, tlsCfg: tlsCfg,
		peers: peers{alive: map[string]bool{}, running: map[string]context.CancelFunc{}},
	}
	in.tkCtx, in.tkCancel = context.WithCancel(context.Background())
	if cfg.Takeover {
		in.presencePrefix = PresenceTopic(cfg.Group, "")
	}
	in.m = newMetrics(cfg.ClientID)
	if cfg.Registerer != nil {
		if err := in.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("ingest: metrics: %w", err)
		}
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	cmCtx, cmStop := context.WithCancel(context.Background())
	in.cmStop = cmStop
	recvMax := uint16(cfg.MaxInFlight)
	expiry := uint32(cfg.SessionExpiry / time.Second)
	ac := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        tlsCfg,
		KeepAlive:                     uint16(cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         expiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(100*time.Millisecond, 30*time.Second, time.Second, 2),
		ConnectTimeout:                DefaultConnectTimeout,
		ConnectPacketBuilder: func(c *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if c.Properties == nil {
				c.Properties = &paho.ConnectProperties{}
			}
			c.Properties.ReceiveMaximum = &recvMax
			return c, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			in.connected.Store(true)
			in.cmUp.Store(cm)
			in.log.Info("ingest: connected", "worker", cfg.ClientID)
			go in.subscribe(cm)
		},
		OnConnectionDown: func() bool {
			in.connected.Store(false)
			in.log.Info("ingest: connection lost", "worker", cfg.ClientID)
			return true
		},
		OnConnectError: func(err error) { in.log.Warn("ingest: connect failed", "err", err) },
		WillMessage:    in.will(),
		WillProperties: &paho.WillProperties{},
		ClientConfig: paho.ClientConfig{
			ClientID:                   cfg.ClientID,
			EnableManualAcknowledgment: true,
			SendAcksInterval:           2 * time.Millisecond,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){in.onPublish},
			OnClientError:              func(err error) { in.log.Warn("ingest: client error", "err", err) },
		},
	}
	ac.AttemptConnection = func(ctx context.Context, _ autopaho.ClientConfig, _ *url.URL) (net.Conn, error) {
		c, err := in.dial(ctx)
		if err != nil {
			return nil, err
		}
		return mqttconn.Wrap(c), nil
	}
	for range cfg.Verifiers {
		in.wg.Add(1)
		go in.verify()
	}
	batcherDone := make(chan struct{})
	go func() { in.batcher(); close(batcherDone) }()
	go func() { in.wg.Wait(); close(in.results) }()
	cm, err := autopaho.NewConnection(cmCtx, ac)
	if err != nil {
		cmStop()
		in.cancel()
		in.tkCancel()
		close(in.jobs)
		<-batcherDone
		return nil, fmt.Errorf("ingest: %w", err)
	}
	in.cm = cm
	in.batcherDone = batcherDone
	return in, nil
}

func prepare(cfg *Config) (*url.URL, *tls.Config, error) {
	bad := func(field, why string) error { return fmt.Errorf("%w: %s %s", ErrConfig, field, why) }
	if cfg.ClientID == "" || len(cfg.ClientID) > 128 {
		return nil, nil, bad("ClientID", "must be 1-128 bytes")
	}
	if cfg.Verifier == nil {
		return nil, nil, bad("Verifier", "is required")
	}
	if cfg.Store == nil {
		return nil, nil, bad("Store", "is required")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if _, err := telemetry.SharedSubscription(cfg.Group); err != nil {
		return nil, nil, bad("Group", "must be 1-64 printable characters without / + # or space")
	}
	if cfg.DeadLetterTopic != "" && (strings.ContainsAny(cfg.DeadLetterTopic, "+#\x00") || strings.HasPrefix(cfg.DeadLetterTopic, "iomt/v1/")) {
		return nil, nil, bad("DeadLetterTopic", "must have no wildcards and lie outside iomt/v1/")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchSize > MaxBatchSize {
		return nil, nil, bad("BatchSize", "above MaxBatchSize")
	}
	if cfg.BatchDelay < 0 {
		return nil, nil, bad("BatchDelay", "must not be negative")
	}
	if cfg.Verifiers <= 0 {
		cfg.Verifiers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxInFlight > 65535 {
		return nil, nil, bad("MaxInFlight", "above 65535")
	}
	if cfg.MaxEnvelope <= 0 {
		cfg.MaxEnvelope = DefaultMaxEnvelope
	}
	if cfg.SessionExpiry <= 0 {
		cfg.SessionExpiry = DefaultSessionExpiry
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Takeover && strings.ContainsAny(cfg.ClientID, "/+#") {
		return nil, nil, bad("ClientID", "must not contain / + or # with Takeover")
	}
	if cfg.TakeoverDelay < 0 {
		return nil, nil, bad("TakeoverDelay", "must not be negative")
	}
	if cfg.TakeoverDelay == 0 {
		cfg.TakeoverDelay = DefaultTakeoverDelay
	}
	if cfg.Rule == nil {
		cfg.Rule = telemetry.Rule
	}
	u, err := url.Parse(cfg.ServerURL)
	if err != nil || u.Host == "" {
		return nil, nil, bad("ServerURL", "must be an absolute URL with a host")
	}
	var tlsCfg *tls.Config
	switch strings.ToLower(u.Scheme) {
	case "mqtts", "tls", "ssl":
		if cfg.TLS == nil {
			return nil, nil, bad("TLS", "is required for "+u.Scheme)
		}
		tlsCfg = cfg.TLS.Clone()
		if tlsCfg.MinVersion < tls.VersionTLS12 {
			tlsCfg.MinVersion = tls.VersionTLS12
		}
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = u.Hostname()
		}
		u.Scheme = "tls"
	case "mqtt", "tcp":
		if !cfg.InsecurePlaintext {
			return nil, nil, bad("ServerURL", "is plaintext; use mqtts:// or set InsecurePlaintext")
		}
		u.Scheme = "mqtt"
	default:
		return nil, nil, bad("ServerURL", "scheme must be mqtts, tls, ssl, mqtt or tcp")
	}
	return u, tlsCfg, nil
}

func (in *Ingest) subscribe(cm *autopaho.ConnectionManager) {
	ctx, cancel := context.WithTimeout(in.ctx, 30*time.Second)
	defer cancel()
	subs := []paho.SubscribeOptions{{Topic: in.filter, QoS: 1}}
	if in.cfg.Takeover {
		// QoS 0: presence needs no acknowledgement; a lost message is
		// replaced by the retained one on the next subscribe.
		subs = append(subs, paho.SubscribeOptions{Topic: in.presencePrefix + "+", QoS: 0})
	}
	for {
		sa, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs})
		if err == nil {
			break
		}
		// mochi refuses a packet identifier that one of the resumed
		// session's outgoing messages still uses (0x91); the next
		// attempt takes the next identifier.
		if sa == nil || !slices.Contains(sa.Reasons, idInUse) || ctx.Err() != nil {
			in.log.Error("ingest: subscribe failed", "filter", in.filter, "err", err)
			return
		}
	}
	if in.cfg.Takeover {
		in.publishAlive(ctx, cm)
	}
}

// idInUse is the MQTT 5 reason code "Packet Identifier in use".
const idInUse = 0x91

// publishAlive publishes this worker's retained "alive" presence.
func (in *Ingest) publishAlive(ctx context.Context, cm *autopaho.ConnectionManager) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		pr, err := cm.Publish(ctx, &paho.Publish{QoS: 1, Retain: true, Topic: in.presencePrefix + in.cfg.ClientID, Payload: []byte(presenceAlive)})
		if err == nil {
			return
		}
		if pr == nil || pr.ReasonCode != idInUse || ctx.Err() != nil { // idInUse: as in subscribe
			in.log.Warn("ingest: presence publish failed", "err", err)
			return
		}
	}
}

// will is the worker's MQTT Will with Takeover: "dead", retained, on its
// presence topic, published by the broker when the connection dies
// without DISCONNECT.
func (in *Ingest) will() *paho.WillMessage {
	if !in.cfg.Takeover {
		return nil
	}
	return &paho.WillMessage{Topic: in.presencePrefix + in.cfg.ClientID, Payload: []byte(presenceDead), QoS: 1, Retain: true}
}

// onPublish runs on paho's delivery goroutine. It hands the message to the
// pipeline, blocking when the pipeline is full (backpressure).
func (in *Ingest) onPublish(pr paho.PublishReceived) (bool, error) {
	if in.cfg.Takeover && strings.HasPrefix(pr.Packet.Topic, in.presencePrefix) {
		in.onPresence(pr.Packet.Topic, pr.Packet.Payload)
		if pr.Packet.QoS > 0 {
			_ = pr.Client.Ack(pr.Packet)
		}
		return true, nil
	}
	in.enqueue(job{client: pr.Client, pkt: pr.Packet})
	return true, nil
}

// enqueue hands a delivery to the verifiers; false when shutting down (the
// message stays unacknowledged and the broker redelivers it).
func (in *Ingest) enqueue(j job) bool {
	in.received.Add(1)
	in.m.received.Inc()
	in.pending.Add(1)
	select {
	case in.jobs <- j:
		return true
	case <-in.ctx.Done():
		in.pending.Add(-1)
		return false
	}
}

// verify checks envelopes; runs on Config.Verifiers goroutines.
func (in *Ingest) verify() {
	defer in.wg.Done()
	for j := range in.jobs {
		in.results <- in.check(j)
	}
}

func (in *Ingest) check(j job) result {
	r := result{job: j}
	if len(j.pkt.Payload) > in.cfg.MaxEnvelope {
		r.reason = ReasonSize
		return r
	}
	dev, ok := topicDevice(j.pkt.Topic)
	if !ok {
		r.reason = ReasonTopic
		return r
	}
	acc, err := in.cfg.Verifier.Check(in.ctx, j.pkt.Topic, j.pkt.Payload)
	if err != nil {
		r.reason = ReasonRejected
		if s := in.cfg.Rule(err); s != "" {
			r.reason = s
		}
		return r
	}
	// Defence in depth: the topic's device must be the envelope's device,
	// whatever the Verifier checked.
	if acc.Reading.DeviceID != dev {
		r.reason = ReasonTopic
		return r
	}
	r.acc = acc
	return r
}

// topicDevice extracts the device from iomt/v1/{device}/telemetry/{kind}.
func topicDevice(topic string) (iomt.DeviceID, bool) {
	dev, _, err := telemetry.ParseTopic(topic)
	return dev, err == nil
}

// batcher collects results and commits them in batches: a batch takes
// whatever has arrived, up to BatchSize, lingering at most BatchDelay for
// more, so a busy worker commits large batches and an idle one commits at
// once.
func (in *Ingest) batcher() {
	var batch []result
	var timer *time.Timer
	for r := range in.results {
		batch = append(batch[:0], r)
		var deadline <-chan time.Time
		if in.cfg.BatchDelay > 0 {
			if timer == nil {
				timer = time.NewTimer(in.cfg.BatchDelay)
			} else {
				timer.Reset(in.cfg.BatchDelay)
			}
			deadline = timer.C
		}
		open := true
	fill:
		for len(batch) < in.cfg.BatchSize {
			select {
			case r2, ok := <-in.results:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, r2)
				continue
			default:
			}
			if deadline == nil {
				break
			}
			select {
			case r2, ok := <-in.results:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, r2)
			case <-deadline:
				deadline = nil
				break fill
			}
		}
		if timer != nil {
			timer.Stop() // Go 1.23+ timers: no stale value after Stop
		}
		in.commit(batch)
		if !open {
			return
		}
	}
}

// commit stores the accepted readings of a batch, retrying until the store
// succeeds, then records them in the verifier, and only then acknowledges
// every message of the batch to the broker.
func (in *Ingest) commit(batch []result) {
	readings := make([]store.Reading, 0, len(batch))
	for _, r := range batch {
		if r.reason == "" {
			readings = append(readings, r.acc.Reading)
		}
	}
	if len(readings) > 0 {
		res, ok := in.insert(readings, batch)
		if !ok {
			return // shutting down with the batch uncommitted: no acks, the broker redelivers
		}
		for _, r := range batch {
			if r.reason == "" {
				// ErrReplay here means another worker committed the same
				// reading first: harmless, the store is idempotent.
				_ = in.cfg.Verifier.Commit(in.ctx, r.acc)
			}
		}
		in.stored.Add(uint64(res.Inserted))
		in.dups.Add(uint64(res.Duplicates))
		in.m.stored.Add(float64(res.Inserted))
		in.m.duplicates.Add(float64(res.Duplicates))
		if in.cfg.OnCommit != nil {
			in.cfg.OnCommit(readings, res)
		}
	}
	for _, r := range batch {
		if r.reason != "" {
			in.rejectMsg(r)
		}
	}
	for _, r := range batch {
		if err := r.client.Ack(r.pkt); err == nil {
			in.acked.Add(1)
		}
		if r.owner != nil {
			r.owner.touch()
			r.owner.pending.Add(-1)
		}
		in.pending.Add(-1)
	}
}

// insert commits readings, retrying with backoff. A batch the store refuses
// as invalid is split so only the offending readings are rejected. It
// returns false only when the worker is shutting down.
func (in *Ingest) insert(readings []store.Reading, batch []result) (store.InsertResult, bool) {
	delay := 50 * time.Millisecond
	for {
		start := in.cfg.Now()
		res, err := in.cfg.Store.Insert(in.ctx, readings)
		if err == nil {
			in.m.commitSeconds.Observe(in.cfg.Now().Sub(start).Seconds())
			return res, true
		}
		var re *store.ReadingError
		if errors.As(err, &re) && re.Index < len(readings) {
			// Mark the offending result rejected and retry without it.
			bad := readings[re.Index]
			for i := range batch {
				if batch[i].reason == "" && batch[i].acc.Reading.DeviceID == bad.DeviceID && batch[i].acc.Reading.Seq == bad.Seq {
					batch[i].reason = ReasonStore
					break
				}
			}
			readings = append(readings[:re.Index:re.Index], readings[re.Index+1:]...)
			if len(readings) == 0 {
				return store.InsertResult{}, true
			}
			continue
		}
		in.commitFail.Add(1)
		in.m.commitFailures.Inc()
		in.log.Error("ingest: store commit failed; retrying", "readings", len(readings), "err", err)
		select {
		case <-in.ctx.Done():
			return store.InsertResult{}, false
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (in *Ingest) rejectMsg(r result) {
	in.rejected.Add(1)
	in.m.rejected.WithLabelValues(r.reason).Inc()
	in.mu.Lock()
	in.rejectedBy[r.reason]++
	in.mu.Unlock()
	in.log.Warn("ingest: rejected message", "reason", r.reason, "topic", safeTopic(r.pkt.Topic), "bytes", len(r.pkt.Payload))
	if in.cfg.DeadLetterTopic == "" || in.cm == nil {
		return
	}
	payload := r.pkt.Payload
	if r.reason == ReasonSize {
		payload = nil
	}
	ctx, cancel := context.WithTimeout(in.ctx, 5*time.Second)
	defer cancel()
	_, err := in.cm.Publish(ctx, &paho.Publish{
		QoS: 1, Topic: in.cfg.DeadLetterTopic + "/" + r.reason, Payload: payload,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "topic", Value: safeTopic(r.pkt.Topic)}, {Key: "reason", Value: r.reason}}},
	})
	if err != nil {
		in.dlFail.Add(1)
		in.m.deadLetterFailures.Inc()
	}
}

// safeTopic bounds a topic for logs and properties.
func safeTopic(t string) string {
	if len(t) > 128 {
		return t[:128] + "…"
	}
	return t
}

// Stats returns a snapshot of the counters.
func (in *Ingest) Stats() Stats {
	in.mu.Lock()
	by := make(map[string]uint64, len(in.rejectedBy))
	for k, v := range in.rejectedBy {
		by[k] = v
	}
	in.mu.Unlock()
	return Stats{
		Received: in.received.Load(), Stored: in.stored.Load(), Duplicates: in.dups.Load(),
		Rejected: in.rejected.Load(), Acked: in.acked.Load(), RejectedBy: by,
		CommitFailures: in.commitFail.Load(), DeadLetterFailures: in.dlFail.Load(),
		Connected: in.connected.Load(),
	}
}

// Done returns a channel closed when Close has finished.
func (in *Ingest) Done() <-chan struct{} { return in.closed }

// Close unsubscribes, waits until ctx ends for messages already received to
// be committed and acknowledged, then disconnects. Messages not
// acknowledged by then are redelivered by the broker (to this ClientID on
// reconnect, or per the broker's shared-subscription policy). Close is
// idempotent.
func (in *Ingest) Close(ctx context.Context) error {
	first := false
	in.once.Do(func() { first = true })
	if !first {
		<-in.closed
		return nil
	}
	// Stop draining dead peers first: an unfinished takeover keeps the
	// peer's session (and its retained "dead") for another survivor.
	in.peers.mu.Lock()
	in.tkCancel() // under the lock: no takeover starts after this
	in.peers.mu.Unlock()
	in.tkWG.Wait()
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, _ = in.cm.Unsubscribe(uctx, &paho.Unsubscribe{Topics: []string{in.filter}})
	cancel()
	var err error
	tick := time.NewTicker(10 * time.Millisecond)
	for in.pending.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("ingest: closed with %d messages unacknowledged: %w", in.pending.Load(), ctx.Err())
		case <-tick.C:
		}
	}
	tick.Stop()
	// Let the ack tracker flush before disconnecting.
	time.Sleep(20 * time.Millisecond)
	if in.cfg.Takeover {
		// Drained: clear the presence. Not drained: declare this worker
		// dead so that a survivor drains what it leaves in its session.
		var payload []byte
		if err != nil {
			payload = []byte(presenceDead)
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = in.cm.Publish(pctx, &paho.Publish{QoS: 1, Retain: true, Topic: in.presencePrefix + in.cfg.ClientID, Payload: payload})
		pcancel()
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	if derr := in.cm.Disconnect(dctx); derr != nil {
		in.cmStop()
	}
	dcancel()
	<-in.cm.Done()
	in.cmStop()
	in.cancel() // no more deliveries can arrive; stop the pipeline
	close(in.jobs)
	<-in.batcherDone
	if in.cfg.Registerer != nil {
		in.m.unregister(in.cfg.Registerer)
	}
	close(in.closed)
	return err
}
