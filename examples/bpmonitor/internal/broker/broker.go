// Package broker runs the example's embedded MQTT v5 broker: mochi-mqtt
// behind mutual TLS, where the client certificate decides who a client is and
// which topics it may use.
//
// # Identity
//
// mochi-mqtt does not hand the client certificate to its hooks, so the
// authentication hook type-asserts the client's net.Conn to *tls.Conn and
// reads the verified peer certificate from the connection state. The
// certificate names either a device (URI SAN urn:uuid:<device UUID>, as the
// provisioning CA issues them) or a cloud service (a common name listed in
// [Config.Services]); see [Config.Identify] to change that mapping.
//
// # Topic authorisation
//
// A device must use its own UUID as MQTT client ID (so it cannot take over
// another device's session) and may publish only on
//
//	iomt/v1/{its UUID}/telemetry/{kind}
//	iomt/v1/{its UUID}/ota/status
//
// and subscribe only below iomt/v1/{its UUID}/. A service may subscribe to
// anything below iomt/v1/ (also through $share/{group}/...) and publish
// nothing. Everything else is refused, so a stolen device key can speak only
// for that one device, and the ingest's topic/device check has a broker-side
// twin.
package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openiomt/sdk/iomt"
)

// DefaultMaxPacketSize bounds one MQTT packet (64 KiB): far above a signed
// reading (about 1 KiB) and far below what would let one client exhaust memory.
const DefaultMaxPacketSize = 64 << 10

// DefaultMaxClients bounds concurrent connections.
const DefaultMaxClients = 10000

// Errors returned by [Start] and [Config.Identify] implementations.
var (
	// ErrConfig reports an unusable configuration.
	ErrConfig = errors.New("broker: invalid configuration")
	// ErrUnknownIdentity reports a verified certificate that names neither a
	// device nor a known service.
	ErrUnknownIdentity = errors.New("broker: certificate names no known identity")
)

// Identity is who a client certificate speaks for: exactly one of Device or
// Service is set.
type Identity struct {
	Device  iomt.DeviceID
	Service string
}

// Config configures [Start]. The zero value is not usable: TLS is required.
type Config struct {
	// Addr is the TCP address to listen on; empty means 127.0.0.1:0 (a free
	// loopback port, see [Broker.Addr]).
	Addr string
	// TLS is the server configuration. It must carry a server certificate and
	// ClientAuth tls.RequireAndVerifyClientCert with ClientCAs set; Start
	// refuses anything weaker, and forces MinVersion to TLS 1.2 at least.
	TLS *tls.Config
	// Services lists the certificate common names accepted as cloud services
	// (ingest, campaign monitor). A certificate with a urn:uuid URI SAN is
	// always a device, whatever its common name.
	Services []string
	// Identify maps a verified client certificate to an identity. Nil means
	// [Config.DefaultIdentify].
	Identify func(*x509.Certificate) (Identity, error)
	// Admit, when set, is asked before a client is accepted, e.g. to refuse
	// devices revoked in the device registry. A non-nil error refuses.
	Admit func(Identity) error
	// MaxPacketSize bounds one packet; zero means DefaultMaxPacketSize.
	MaxPacketSize uint32
	// MaxClients bounds concurrent clients; zero means DefaultMaxClients.
	MaxClients int64
	// Logger receives connection refusals (never payloads). Nil discards.
	Logger *slog.Logger
	// OnRefused, when set, is told of every refused connection, publish or
	// subscription, for the story printer and tests. It must not block.
	OnRefused func(Refusal)
}

// Refusal describes one refused client action. It holds identifiers and topic
// names only — never payloads.
type Refusal struct {
	ClientID string
	Identity Identity
	Action   string // "connect", "publish" or "subscribe"
	Topic    string
	Reason   string
}

// DefaultIdentify maps a certificate with a urn:uuid:<UUID> URI SAN to that
// device, and a certificate whose common name is one of c.Services to that
// service.
func (c *Config) DefaultIdentify(cert *x509.Certificate) (Identity, error) {
	for _, u := range cert.URIs {
		if u.Scheme == "urn" && strings.HasPrefix(u.Opaque, "uuid:") {
			id, err := iomt.ParseDeviceID(strings.TrimPrefix(u.Opaque, "uuid:"))
			if err != nil {
				return Identity{}, fmt.Errorf("%w: malformed device URI", ErrUnknownIdentity)
			}
			return Identity{Device: id}, nil
		}
	}
	for _, s := range c.Services {
		if s != "" && cert.Subject.CommonName == s {
			return Identity{Service: s}, nil
		}
	}
	return Identity{}, ErrUnknownIdentity
}

// Broker is a running embedded broker. Its methods are safe for concurrent use.
type Broker struct {
	srv  *mqtt.Server
	ln   *listeners.TCP
	addr string
	once sync.Once
	err  error
}

// Start validates cfg, listens and serves. Close stops it.
func Start(cfg Config) (*Broker, error) {
	if cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil) {
		return nil, fmt.Errorf("%w: TLS with a server certificate is required", ErrConfig)
	}
	if cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert || cfg.TLS.ClientCAs == nil {
		return nil, fmt.Errorf("%w: TLS must require and verify client certificates", ErrConfig)
	}
	t := cfg.TLS.Clone()
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.Identify == nil {
		cfg.Identify = cfg.DefaultIdentify
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = cfg.MaxPacketSize
	caps.MaximumClients = cfg.MaxClients
	caps.MaximumSessionExpiryInterval = 7 * 24 * 3600
	caps.Compatibilities.ObscureNotAuthorized = false
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		// mochi logs every dropped client connection as a warning; keep
		// only its errors (refusals are logged by the hook below).
		Logger:       slog.New(minLevel{log.Handler(), slog.LevelError}).With("component", "mqtt"),
		InlineClient: true,
	})
	h := &authHook{cfg: cfg, log: log}
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "mtls", Address: cfg.Addr, TLSConfig: t})
	if err := srv.AddListener(ln); err != nil {
		return nil, fmt.Errorf("broker: listen: %w", err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return &Broker{srv: srv, ln: ln, addr: ln.Address()}, nil
}

// Addr returns the listening host:port.
func (b *Broker) Addr() string { return b.addr }

// URL returns the broker URL for clients: mqtts://host:port.
func (b *Broker) URL() *url.URL { return &url.URL{Scheme: "mqtts", Host: b.addr} }

// Tap subscribes an in-process observer to filter (which may be "#"). fn runs
// on the broker's delivery path and must not block. Taps see payloads: use
// them for the story printer and for tests, never for logging payloads.
func (b *Broker) Tap(filter string, fn func(topic string, payload []byte)) error {
	return b.srv.Subscribe(filter, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload)
	})
}

// Close disconnects every client and stops listening. It is idempotent.
//
// mochi-mqtt 2.7.9's Server.Close can deadlock: closing a listener takes
// the client map's read lock twice (Clients.GetByListener calls Len), and
// a client connecting or leaving at that moment queues for the write lock
// in between, so neither proceeds (mochi-mqtt/server#488, seen here as a
// 10-minute hang of a -race test). Close therefore shuts the listener
// without mochi's client sweep, disconnects the clients from snapshots of
// the client map (one read lock each), and only then closes the server.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.ln.Close(func(string) {}) // marks the listener closed: Server.Close skips its sweep
		b.disconnectAll()
		b.err = b.srv.Close()
		b.disconnectAll() // any client that finished attaching meanwhile
	})
	return b.err
}

func (b *Broker) disconnectAll() {
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Closed() {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// authHook authenticates by client certificate and authorises topics.
type authHook struct {
	mqtt.HookBase
	cfg Config
	log *slog.Logger
	ids sync.Map // client pointer → Identity
}

func (h *authHook) ID() string { return "openiomt-mtls" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnDisconnect
}

func (h *authHook) refuse(r Refusal) {
	h.log.Warn("mqtt refused", "client", r.ClientID, "action", r.Action, "topic", r.Topic, "reason", r.Reason)
	if h.cfg.OnRefused != nil {
		h.cfg.OnRefused(r)
	}
}

// peerCertificate reads the verified client certificate from the connection.
func peerCertificate(c net.Conn) (*x509.Certificate, error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil, errors.New("not a TLS connection")
	}
	st := tc.ConnectionState()
	if !st.HandshakeComplete || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return nil, errors.New("no verified client certificate")
	}
	return st.PeerCertificates[0], nil
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	cert, err := peerCertificate(cl.Net.Conn)
	if err != nil {
		h.refuse(Refusal{ClientID: cl.ID, Action: "connect", Reason: err.Error()})
		return false
	}
	id, err := h.cfg.Identify(cert)
	if err != nil {
		h.refuse(Refusal{ClientID: cl.ID, Action: "connect", Reason: "unknown identity"})
		return false
	}
	if !id.Device.IsZero() && cl.ID != id.Device.String() {
		h.refuse(Refusal{ClientID: cl.ID, Identity: id, Action: "connect", Reason: "client ID differs from certificate device ID"})
		return false
	}
	if h.cfg.Admit != nil {
		if err := h.cfg.Admit(id); err != nil {
			h.refuse(Refusal{ClientID: cl.ID, Identity: id, Action: "connect", Reason: "not admitted"})
			return false
		}
	}
	h.ids.Store(cl, id)
	return true
}

func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) { h.ids.Delete(cl) }

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	v, ok := h.ids.Load(cl)
	if !ok {
		return false
	}
	id := v.(Identity)
	action := "subscribe"
	if write {
		action = "publish"
	}
	if reason := Authorize(id, topic, write); reason != "" {
		h.refuse(Refusal{ClientID: cl.ID, Identity: id, Action: action, Topic: topic, Reason: reason})
		return false
	}
	return true
}

// Authorize applies the topic rules of the package documentation. write is
// true for a publish, false for a subscription filter or a delivery. It
// returns "" when allowed, else the reason.
func Authorize(id Identity, topic string, write bool) string {
	if len(topic) > 512 {
		return "topic too long"
	}
	if id.Service != "" {
		if write {
			return "services do not publish"
		}
		t := topic
		if strings.HasPrefix(t, "$share/") {
			parts := strings.SplitN(t, "/", 3)
			if len(parts) != 3 || parts[1] == "" {
				return "malformed shared subscription"
			}
			t = parts[2]
		}
		if !strings.HasPrefix(t, "iomt/v1/") {
			return "outside iomt/v1/"
		}
		return ""
	}
	if id.Device.IsZero() {
		return "no identity"
	}
	own := "iomt/v1/" + id.Device.String() + "/"
	if !strings.HasPrefix(topic, own) {
		return "not the device's own topic"
	}
	rest := topic[len(own):]
	if !write {
		return ""
	}
	if rest == "ota/status" {
		return ""
	}
	if k, ok := strings.CutPrefix(rest, "telemetry/"); ok {
		if _, err := iomt.ParseKind(k); err == nil {
			return ""
		}
		return "unknown telemetry kind"
	}
	return "device may not publish there"
}

// Disconnect drops the connection of the client with this ID, if any (for
// example right after its device was revoked: the broker admits clients only
// at connect time). It reports whether a client was connected.
func (b *Broker) Disconnect(clientID string) bool {
	cl, ok := b.srv.Clients.Get(clientID)
	if !ok {
		return false
	}
	cl.Stop(errors.New("broker: disconnected by the operator"))
	return true
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
