package publisher

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
	filestore "github.com/eclipse/paho.golang/paho/store/file"
	"github.com/openiomt/sdk/internal/mqttconn"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/outbox"
)

// Defaults for zero Config fields.
const (
	DefaultSessionExpiry  = 7 * 24 * time.Hour
	DefaultKeepAlive      = 30 * time.Second
	DefaultMaxInFlight    = 32
	DefaultPublishTimeout = 30 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Minute
	DefaultConnectTimeout = 10 * time.Second

	// AWSIoTALPN is the ALPN protocol AWS IoT Core requires for MQTT with
	// client certificates on port 443.
	AWSIoTALPN = "x-amzn-mqtt-ca"
	// AWSIoTMaxPayload is AWS IoT Core's payload limit (128 KiB).
	AWSIoTMaxPayload = 128 << 10
	// AWSIoTMaxTopicBytes and AWSIoTMaxTopicLevels are AWS IoT Core's
	// topic limits (256 bytes, at most 7 slashes).
	AWSIoTMaxTopicBytes  = 256
	AWSIoTMaxTopicLevels = 8
)

// Errors returned by the publisher.
var (
	// ErrOutboxFull is returned by Publish when the durable outbox is at
	// its limit: the reading is not accepted (nothing already queued is
	// dropped). Retry after the connection drains the outbox.
	ErrOutboxFull = outbox.ErrOutboxFull
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("publisher: closed")
	// ErrTopic is returned for a topic outside this device's
	// iomt/v1/{deviceID}/ namespace, with wildcards, or beyond the broker's
	// limits.
	ErrTopic = errors.New("publisher: topic not allowed")
	// ErrTooLarge is returned for a payload above the outbox's or the
	// broker's limit.
	ErrTooLarge = outbox.ErrTooLarge
	// ErrEnvelope is returned by PublishEnvelope for a telemetry topic when
	// the envelope is not a compact JWS whose payload passes the closed
	// schema and PHI guard, or names another device or kind than the
	// topic. It wraps the telemetry sentinel (e.g. telemetry.ErrPHI).
	ErrEnvelope = errors.New("publisher: envelope refused")
	// ErrNoSigner is returned by Publish when Config.Signer is nil.
	ErrNoSigner = errors.New("publisher: no signer configured")
	// ErrConfig reports an unusable Config; it arrives wrapped with the
	// field name.
	ErrConfig = errors.New("publisher: invalid config")
)

// Config configures a Publisher. Fields marked required must be set; every
// other zero field takes the default named beside it. New copies Config;
// later changes have no effect.
type Config struct {
	// ServerURL is the broker, e.g. "mqtts://broker.example:8883"
	// (required). Schemes mqtts, tls and ssl use TLS; mqtt and tcp are
	// plaintext and need InsecurePlaintext.
	ServerURL string
	// DeviceID is this device's UUID (required). It is the MQTT client ID
	// (so the broker keeps the session across reconnects) and the only
	// device allowed in published topics.
	DeviceID iomt.DeviceID
	// Signer, when set, signs readings given to [Publisher.Publish]. Its
	// device must be DeviceID. Use a telemetry.FileSequence as its
	// SequenceStore so sequence numbers survive restarts.
	Signer *telemetry.Signer
	// TLS configures the connection. It must provide the device's client
	// certificate through GetClientCertificate (called on every connect,
	// so a rotated certificate is used from the next connection) or
	// Certificates. MinVersion is raised to TLS 1.2 if lower. The Config
	// is cloned.
	TLS *tls.Config
	// InsecurePlaintext allows mqtt:// without TLS. Anyone on the network
	// path can then read readings, inject or replay messages and take over
	// the session. For tests and loopback brokers only.
	InsecurePlaintext bool
	// StateDir holds the durable outbox (StateDir/outbox) and the MQTT
	// session store (StateDir/session); created with mode 0700 (required).
	StateDir string
	// Outbox configures the outbox (see outbox.Config for its defaults).
	Outbox outbox.Config
	// SessionExpiry is the MQTT v5 session expiry asked of the broker
	// (DefaultSessionExpiry when 0; must be positive). With 0 the broker
	// would forget in-flight QoS 1 messages on every disconnect.
	SessionExpiry time.Duration
	// KeepAlive is the MQTT keep-alive (DefaultKeepAlive when 0).
	KeepAlive time.Duration
	// MaxInFlight bounds unacknowledged PUBLISHes (DefaultMaxInFlight when
	// 0); the broker's Receive Maximum may lower it further.
	MaxInFlight int
	// PublishTimeout bounds the wait for one PUBACK before the entry is
	// retried (DefaultPublishTimeout when 0).
	PublishTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential reconnect
	// backoff (DefaultMinBackoff, DefaultMaxBackoff when 0).
	MinBackoff, MaxBackoff time.Duration
	// ConnectTimeout bounds one connection attempt (DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// AcceptNoSubscribers treats a PUBACK with reason "no matching
	// subscribers" (0x10) as delivered. By default such a message is kept
	// and retried, because the broker discarded it: after a broker restart
	// devices often reconnect before the ingest has subscribed again.
	AcceptNoSubscribers bool
	// AWSIoT adapts to AWS IoT Core: ALPN x-amzn-mqtt-ca (use port 443),
	// payloads of at most 128 KiB, topics of at most 256 bytes and 8 levels.
	AWSIoT bool
	// Rand returns a uniform float64 in [0, 1) for backoff jitter; nil uses
	// math/rand/v2.
	Rand func() float64
	// Logger receives connection events and errors (never payloads); nil
	// discards them.
	Logger *slog.Logger
	// Dial, when set, replaces the network dial (tests, proxies). It gets
	// the TLS config to use (nil for plaintext).
	Dial func(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error)
}

// Stats is a snapshot of a Publisher's counters.
type Stats struct {
	// Queued is the number of entries in the outbox, including in flight.
	Queued int
	// InFlight is the number of PUBLISHes awaiting PUBACK.
	InFlight int
	// Acked counts PUBACKs since New.
	Acked uint64
	// Rejected counts entries the broker refused permanently (PUBACK
	// reason code "not authorized", "topic name invalid", "packet too
	// large" or "payload format invalid"); they are moved to
	// StateDir/rejected and counted, never retried.
	Rejected uint64
	// Retries counts publishes that failed and were queued again.
	Retries uint64
	// NoSubscribers counts PUBACKs with reason "no matching subscribers"
	// (0x10): the broker dropped the message, so it was kept and retried.
	NoSubscribers uint64
	// Connects counts successful connections; Reconnects is Connects-1.
	Connects, Reconnects uint64
	// Connected reports whether a connection is up now.
	Connected bool
	// Quarantined counts damaged outbox regions found at startup.
	Quarantined int
}

// Publisher sends a device's messages over MQTT v5 at QoS 1 from a durable
// outbox. Safe for concurrent use.
type Publisher struct {
	cfg      Config
	log      *slog.Logger
	ob       *outbox.Outbox
	session  *state.State
	cm       *autopaho.ConnectionManager
	prefix   string
	maxEntry int

	cancel   context.CancelFunc // stops the pump
	cmCancel context.CancelFunc // stops the connection manager
	pumpWG   sync.WaitGroup
	pubWG    sync.WaitGroup
	closing  atomic.Bool
	closed   chan struct{}
	once     sync.Once

	inflight              atomic.Int64
	acked, rejected, retr atomic.Uint64
	noSubs                atomic.Uint64
	connects              atomic.Uint64
	connected             atomic.Bool
	connUp                chan struct{} // wake-up for the pump

	genMu     sync.Mutex
	genCtx    context.Context // in-flight publishes of the current session
	genCancel context.CancelFunc
	slotFree  chan struct{}
}

// New validates cfg, opens the outbox and session store, and starts
// connecting in the background. Entries left by a previous run are sent
// first. Call Close to stop.
func New(cfg Config) (*Publisher, error) {
	u, tlsCfg, err := prepare(&cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("publisher: state dir: %w", err)
	}
	obCfg := cfg.Outbox
	if obCfg.MaxEntryBytes <= 0 {
		obCfg.MaxEntryBytes = outbox.DefaultMaxEntryBytes
	}
	if obCfg.Logger == nil {
		obCfg.Logger = log
	}
	ob, err := outbox.Open(filepath.Join(cfg.StateDir, "outbox"), obCfg)
	if err != nil {
		return nil, err
	}
	for _, q := range ob.Quarantined() {
		log.Warn("publisher: outbox damage quarantined at startup", "segment", q.Segment, "offset", q.Offset, "length", q.Length, "reason", q.Reason)
	}
	sessDir := filepath.Join(cfg.StateDir, "session")
	cs, err1 := filestore.New(sessDir, "client-", ".pkt")
	ss, err2 := filestore.New(sessDir, "server-", ".pkt")
	if err := errors.Join(err1, err2); err != nil {
		ob.Close()
		return nil, fmt.Errorf("publisher: session store: %w", err)
	}
	p := &Publisher{
		cfg: cfg, log: log, ob: ob,
		session:  state.New(cs, ss),
		prefix:   "iomt/v1/" + cfg.DeviceID.String() + "/",
		maxEntry: obCfg.MaxEntryBytes,
		closed:   make(chan struct{}),
		connUp:   make(chan struct{}, 1),
		slotFree: make(chan struct{}, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	cmCtx, cmCancel := context.WithCancel(context.Background())
	p.cmCancel = cmCancel
	ac := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        tlsCfg,
		KeepAlive:                     uint16(cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         uint32(cfg.SessionExpiry / time.Second),
		ReconnectBackoff:              p.backoff,
		ConnectTimeout:                cfg.ConnectTimeout,
		OnConnectionUp: func(_ *autopaho.ConnectionManager, ca *paho.Connack) {
			if !ca.SessionPresent {
				// The broker has no session: paho dropped its in-flight
				// PUBLISHes without answering their waiters. Abandon those
				// waits so the outbox entries are sent again at once.
				p.newGeneration(ctx)
			}
			n := p.connects.Add(1)
			p.connected.Store(true)
			p.log.Info("publisher: connected", "reconnects", n-1)
			wake(p.connUp)
		},
		OnConnectionDown: func() bool {
			p.connected.Store(false)
			p.log.Info("publisher: connection lost")
			return true
		},
		OnConnectError: func(err error) {
			p.log.Warn("publisher: connect failed", "err", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:      cfg.DeviceID.String(),
			Session:       p.session,
			PacketTimeout: cfg.PublishTimeout,
			OnClientError: func(err error) { p.log.Warn("publisher: client error", "err", err) },
		},
	}
	dial := cfg.Dial
	if dial == nil {
		dial = defaultDial
	}
	ac.AttemptConnection = func(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
		c, err := dial(ctx, u.Host, tlsCfg)
		if err != nil {
			return nil, err
		}
		// One write per packet, buffered reads, and the write lock paho
		// needs (a tls.Conn alone may interleave concurrent packets).
		return mqttconn.Wrap(c), nil
	}
	cm, err := autopaho.NewConnection(cmCtx, ac)
	if err != nil {
		cancel()
		cmCancel()
		ob.Close()
		p.session.Close()
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p.cm = cm
	p.newGeneration(ctx)
	p.pumpWG.Add(1)
	go p.pump(ctx)
	return p, nil
}

func prepare(cfg *Config) (*url.URL, *tls.Config, error) {
	bad := func(field, why string) error { return fmt.Errorf("%w: %s %s", ErrConfig, field, why) }
	if cfg.DeviceID.IsZero() {
		return nil, nil, bad("DeviceID", "is required")
	}
	if cfg.Signer != nil && cfg.Signer.Device() != cfg.DeviceID {
		return nil, nil, bad("Signer", "signs for another device")
	}
	if cfg.StateDir == "" {
		return nil, nil, bad("StateDir", "is required")
	}
	u, err := url.Parse(cfg.ServerURL)
	if err != nil || u.Host == "" {
		return nil, nil, bad("ServerURL", "must be an absolute URL with a host")
	}
	if cfg.SessionExpiry < 0 {
		return nil, nil, bad("SessionExpiry", "must be positive")
	}
	if cfg.SessionExpiry == 0 {
		cfg.SessionExpiry = DefaultSessionExpiry
	}
	if cfg.SessionExpiry < time.Second {
		return nil, nil, bad("SessionExpiry", "must be at least one second")
	}
	if cfg.SessionExpiry/time.Second > 0xFFFFFFFE { // 0xFFFFFFFF means "never expires"
		cfg.SessionExpiry = 0xFFFFFFFE * time.Second
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.KeepAlive, DefaultKeepAlive)
	def(&cfg.PublishTimeout, DefaultPublishTimeout)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.ConnectTimeout, DefaultConnectTimeout)
	if cfg.KeepAlive > 0xFFFF*time.Second {
		return nil, nil, bad("KeepAlive", "above 65535 s")
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxInFlight > 65535 {
		return nil, nil, bad("MaxInFlight", "above 65535")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.AWSIoT && (cfg.Outbox.MaxEntryBytes == 0 || cfg.Outbox.MaxEntryBytes > AWSIoTMaxPayload) {
		cfg.Outbox.MaxEntryBytes = AWSIoTMaxPayload
	}
	var tlsCfg *tls.Config
	switch strings.ToLower(u.Scheme) {
	case "mqtts", "tls", "ssl":
		if cfg.TLS == nil || (cfg.TLS.GetClientCertificate == nil && len(cfg.TLS.Certificates) == 0) {
			return nil, nil, bad("TLS", "must provide a client certificate (GetClientCertificate or Certificates)")
		}
		tlsCfg = cfg.TLS.Clone()
		if tlsCfg.MinVersion < tls.VersionTLS12 {
			tlsCfg.MinVersion = tls.VersionTLS12
		}
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = u.Hostname()
		}
		if cfg.AWSIoT {
			tlsCfg.NextProtos = []string{AWSIoTALPN}
		}
		u.Scheme = "tls"
	case "mqtt", "tcp":
		if !cfg.InsecurePlaintext {
			return nil, nil, bad("ServerURL", "is plaintext; use mqtts:// or set InsecurePlaintext")
		}
		if cfg.AWSIoT {
			return nil, nil, bad("ServerURL", "AWS IoT Core requires TLS")
		}
		u.Scheme = "mqtt"
	default:
		return nil, nil, bad("ServerURL", "scheme must be mqtts, tls, ssl, mqtt or tcp")
	}
	return u, tlsCfg, nil
}

func defaultDial(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error) {
	if tlsCfg == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	d := tls.Dialer{Config: tlsCfg}
	return d.DialContext(ctx, "tcp", addr)
}

// backoff is a jittered exponential backoff: before attempt 0 a random delay
// up to MinBackoff (so a fleet does not reconnect in lockstep after a broker
// restart), then MinBackoff·2^n capped at MaxBackoff, jittered to 50–100 %.
func (p *Publisher) backoff(attempt int) time.Duration {
	if attempt == 0 {
		return time.Duration(p.cfg.Rand() * float64(p.cfg.MinBackoff))
	}
	d := p.cfg.MaxBackoff
	if attempt < 32 {
		if e := p.cfg.MinBackoff << uint(attempt-1); e > 0 && e < d {
			d = e
		}
	}
	return d/2 + time.Duration(p.cfg.Rand()*float64(d/2))
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Publish signs r with Config.Signer (which validates it, runs the PHI guard
// and assigns the next sequence number) and queues the envelope like
// [Publisher.PublishEnvelope]. When Publish returns nil the signed reading
// is durably queued. Without a Signer it fails with [ErrNoSigner].
func (p *Publisher) Publish(ctx context.Context, r iomt.Reading) error {
	if p.cfg.Signer == nil {
		return ErrNoSigner
	}
	if p.closing.Load() {
		return ErrClosed
	}
	env, err := p.cfg.Signer.Sign(ctx, r)
	if err != nil {
		return err
	}
	return p.PublishEnvelope(ctx, env.Topic(), env.Compact)
}

// PublishEnvelope queues a signed envelope for topic and returns once it is
// durably in the outbox; the background connection delivers it at QoS 1
// and removes it when the broker acknowledges it. The topic must lie under
// iomt/v1/{DeviceID}/. It fails with ErrOutboxFull, ErrTooLarge, ErrTopic or
// ErrClosed, and never blocks on the network.
func (p *Publisher) PublishEnvelope(ctx context.Context, topic string, envelope []byte) error {
	if p.closing.Load() {
		return ErrClosed
	}
	if err := p.checkTopic(topic); err != nil {
		return err
	}
	if len(envelope) > p.maxEntry {
		return ErrTooLarge
	}
	if err := p.checkEnvelope(topic, envelope); err != nil {
		return err
	}
	if _, err := p.ob.Append(ctx, topic, envelope); err != nil {
		if errors.Is(err, outbox.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("publisher: %w", err)
	}
	return nil
}

// checkEnvelope applies the publisher's half of the PHI guard to telemetry
// topics: the envelope must be a compact JWS whose payload passes the
// closed schema (telemetry.ParsePayload: no unknown members, only numbers
// in data), names this device and matches the topic's kind. The signature
// is not checked here; the cloud verifies it.
func (p *Publisher) checkEnvelope(topic string, env []byte) error {
	dev, kind, err := telemetry.ParseTopic(topic)
	if err != nil {
		return nil // not a telemetry topic (e.g. ota/status): opaque
	}
	first := bytes.IndexByte(env, '.')
	last := bytes.LastIndexByte(env, '.')
	if first < 0 || last <= first {
		return fmt.Errorf("%w: not a compact JWS", ErrEnvelope)
	}
	raw := env[first+1 : last]
	payload := make([]byte, base64.RawURLEncoding.DecodedLen(len(raw)))
	n, err := base64.RawURLEncoding.Decode(payload, raw)
	if err != nil {
		return fmt.Errorf("%w: payload encoding", ErrEnvelope)
	}
	pl, err := telemetry.ParsePayload(payload[:n])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	if pl.Device != dev || pl.Kind != kind {
		return fmt.Errorf("%w: payload device or kind differs from the topic", ErrEnvelope)
	}
	return nil
}

func (p *Publisher) checkTopic(topic string) error {
	if !strings.HasPrefix(topic, p.prefix) || len(topic) == len(p.prefix) || strings.ContainsAny(topic, "+#\x00") {
		return ErrTopic
	}
	if p.cfg.AWSIoT && (len(topic) > AWSIoTMaxTopicBytes || strings.Count(topic, "/") >= AWSIoTMaxTopicLevels) {
		return ErrTopic
	}
	return nil
}

// pump claims outbox entries while connected and publishes them.
func (p *Publisher) pump(ctx context.Context) {
	defer p.pumpWG.Done()
	for {
		if err := p.cm.AwaitConnection(ctx); err != nil {
			return
		}
		free := p.cfg.MaxInFlight - int(p.inflight.Load())
		var batch []outbox.Entry
		if free > 0 {
			batch = p.ob.Claim(free)
		}
		for _, e := range batch {
			p.inflight.Add(1)
			p.pubWG.Add(1)
			go p.publish(ctx, e)
		}
		if len(batch) == 0 || free <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-p.ob.Ready():
			case <-p.slotFree:
			case <-p.connUp:
			}
		}
	}
}

// Reason codes after which a PUBLISH is never retried.
func permanent(rc byte) bool {
	switch rc {
	case 0x87, // not authorized
		0x90, // topic name invalid
		0x95, // packet too large
		0x99: // payload format invalid
		return true
	}
	return false
}

// newGeneration starts a new session generation, abandoning waits for
// PUBACKs of the previous one.
func (p *Publisher) newGeneration(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	p.genMu.Lock()
	old := p.genCancel
	p.genCtx, p.genCancel = ctx, cancel
	p.genMu.Unlock()
	if old != nil {
		old()
	}
}

func (p *Publisher) generation() context.Context {
	p.genMu.Lock()
	defer p.genMu.Unlock()
	return p.genCtx
}

func (p *Publisher) publish(ctx context.Context, e outbox.Entry) {
	defer p.pubWG.Done()
	defer func() {
		p.inflight.Add(-1)
		wake(p.slotFree)
	}()
	pctx, cancel := context.WithTimeout(p.generation(), p.cfg.PublishTimeout)
	defer cancel()
	resp, err := p.cm.Publish(pctx, &paho.Publish{QoS: 1, Topic: e.Topic, Payload: e.Payload})
	switch {
	case err == nil && resp != nil && resp.ReasonCode == reasonNoMatchingSubscribers && !p.cfg.AcceptNoSubscribers:
		// The broker took the message but nobody (not even a persistent
		// session) subscribes, so it was dropped: typically the ingest has
		// not re-subscribed after a broker restart. Keep it and retry.
		p.noSubs.Add(1)
		p.retry(ctx, e)
	case err == nil:
		if aerr := p.ob.Ack(e.ID); aerr == nil {
			p.acked.Add(1)
		}
	case resp != nil && permanent(resp.ReasonCode):
		p.reject(e, resp.ReasonCode)
	default:
		p.retry(ctx, e)
	}
}

// reasonNoMatchingSubscribers is the MQTT v5 PUBACK reason code 0x10.
const reasonNoMatchingSubscribers = 0x10

// retry returns e to the outbox after a short jittered pause, which also
// lets the connection manager notice a dead connection before the pump
// claims again.
func (p *Publisher) retry(ctx context.Context, e outbox.Entry) {
	p.retr.Add(1)
	if ctx.Err() == nil {
		t := time.NewTimer(p.backoff(1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	p.ob.Release(e.ID)
}

// reject moves an entry the broker refused for good to StateDir/rejected
// (envelopes hold no PHI) and removes it from the outbox, so it cannot wedge
// the queue.
func (p *Publisher) reject(e outbox.Entry, rc byte) {
	dir := filepath.Join(p.cfg.StateDir, "rejected")
	name := fmt.Sprintf("%016x-rc%02x.jws", uint64(e.ID), rc)
	if err := os.MkdirAll(dir, 0o700); err == nil {
		if err := os.WriteFile(filepath.Join(dir, name), e.Payload, 0o600); err != nil {
			p.log.Error("publisher: keep rejected entry", "err", err)
		}
	}
	p.log.Error("publisher: broker rejected message permanently", "reason_code", rc, "topic", e.Topic, "kept_as", name)
	p.rejected.Add(1)
	_ = p.ob.Ack(e.ID)
}

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() Stats {
	os := p.ob.Stats()
	c := p.connects.Load()
	s := Stats{
		Queued: os.Entries, InFlight: int(p.inflight.Load()),
		Acked: p.acked.Load(), Rejected: p.rejected.Load(), Retries: p.retr.Load(), NoSubscribers: p.noSubs.Load(),
		Connects: c, Connected: p.connected.Load(), Quarantined: os.Quarantined,
	}
	if c > 0 {
		s.Reconnects = c - 1
	}
	return s
}

// Done returns a channel closed when Close has finished.
func (p *Publisher) Done() <-chan struct{} { return p.closed }

// Close stops accepting messages and waits, until ctx ends, for the outbox
// to drain (every entry acknowledged). Whatever is not acknowledged by then
// stays in the outbox for the next New. It then disconnects and closes the
// outbox and session store. The returned error wraps ctx.Err() when entries
// were left queued. Close is idempotent; later calls return nil.
func (p *Publisher) Close(ctx context.Context) error {
	first := false
	p.once.Do(func() { first = true })
	if !first {
		<-p.closed
		return nil
	}
	p.closing.Store(true)
	var drainErr error
	tick := time.NewTicker(20 * time.Millisecond)
	for p.ob.Stats().Entries > 0 {
		select {
		case <-ctx.Done():
			drainErr = fmt.Errorf("publisher: closed with %d entries kept in the outbox: %w", p.ob.Stats().Entries, ctx.Err())
		case <-tick.C:
			continue
		}
		break
	}
	tick.Stop()
	p.cancel()
	p.pumpWG.Wait()
	p.pubWG.Wait()
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := p.cm.Disconnect(dctx); err != nil {
		p.cmCancel()
	}
	dcancel()
	<-p.cm.Done()
	p.cmCancel()
	err := errors.Join(drainErr, p.ob.Close(), p.session.Close())
	close(p.closed)
	return err
}
