package brokertest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openiomt/sdk/internal/testenv"
)

// MochiConfig configures an embedded broker.
type MochiConfig struct {
	// TLS, when set, makes the listener TLS (use PKI.ServerTLS for mTLS).
	TLS *tls.Config
	// BindDeviceTopics enforces the certificate-to-topic binding: a client
	// whose certificate CN is a device UUID may publish only under
	// iomt/v1/{that UUID}/ and subscribe to nothing; clients whose CN
	// starts with "ingest" may subscribe and publish to dead-letter topics.
	// Requires TLS with client certificates.
	BindDeviceTopics bool
	// Capture, when set, records every PUBLISH payload the broker receives.
	Capture bool
}

// Mochi is an embedded mochi-mqtt broker on a loopback port.
type Mochi struct {
	Addr string
	URL  string // mqtt:// or mqtts:// URL of the listener
	t    testing.TB
	cfg  MochiConfig
	srv  *mqtt.Server
	ln   *listeners.TCP
	mu   sync.Mutex
	caps [][]byte
	deny int
}

// StartMochi starts a broker for the test and stops it when the test ends.
func StartMochi(t testing.TB, cfg MochiConfig) *Mochi {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	m := &Mochi{Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t, cfg: cfg}
	m.URL = "mqtt://" + m.Addr
	if cfg.TLS != nil {
		m.URL = "mqtts://" + m.Addr
	}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Start starts (or restarts) the broker on the same address. Sessions are
// not persisted across a restart.
func (m *Mochi) Start() {
	m.t.Helper()
	if m.srv != nil {
		return
	}
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	if m.cfg.BindDeviceTopics {
		_ = srv.AddHook(&bindingHook{m: m}, nil)
	} else {
		_ = srv.AddHook(new(auth.AllowHook), nil)
	}
	if m.cfg.Capture {
		_ = srv.AddHook(&captureHook{m: m}, nil)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "t", Address: m.Addr, TLSConfig: m.cfg.TLS})
	if err := srv.AddListener(ln); err != nil {
		m.t.Fatalf("brokertest: listen: %v", err)
	}
	if err := srv.Serve(); err != nil {
		m.t.Fatalf("brokertest: serve: %v", err)
	}
	m.srv, m.ln = srv, ln
}

// Stop closes the broker and every connection.
//
// It does not leave the client sweep to mochi-mqtt 2.7.9's Server.Close,
// which can deadlock on the client map's lock when a client connects or
// leaves at the same moment (mochi-mqtt/server#488): the listener is
// closed without the sweep, clients are disconnected from snapshots of the
// map, then the server is closed.
func (m *Mochi) Stop() {
	if m.srv == nil {
		return
	}
	m.ln.Close(func(string) {})
	disconnect := func() {
		for _, cl := range m.srv.Clients.GetAll() {
			if !cl.Closed() {
				_ = m.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	}
	disconnect()
	_ = m.srv.Close()
	disconnect()
	m.srv, m.ln = nil, nil
}

// Captured returns every payload published to the broker so far.
func (m *Mochi) Captured() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.caps...)
}

// Denied counts publishes or subscriptions the binding refused.
func (m *Mochi) Denied() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deny
}

// peerCN returns the CN of the client's verified certificate. mochi does not
// hand the certificate to hooks, so read it from the TLS connection.
func peerCN(cl *mqtt.Client) string {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.CommonName
}

type bindingHook struct {
	mqtt.HookBase
	m *Mochi
}

func (h *bindingHook) ID() string { return "iomt-device-binding" }
func (h *bindingHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}
func (h *bindingHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	return peerCN(cl) != ""
}
func (h *bindingHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	cn := peerCN(cl)
	ok := false
	switch {
	case strings.HasPrefix(cn, "ingest"):
		ok = true
	case write:
		ok = strings.HasPrefix(topic, "iomt/v1/"+cn+"/")
	}
	if !ok {
		h.m.mu.Lock()
		h.m.deny++
		h.m.mu.Unlock()
	}
	return ok
}

type captureHook struct {
	mqtt.HookBase
	m *Mochi
}

func (h *captureHook) ID() string { return "capture" }
func (h *captureHook) Provides(b byte) bool {
	return b == mqtt.OnPublish
}
func (h *captureHook) OnPublish(_ *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.m.mu.Lock()
	h.m.caps = append(h.m.caps, bytes.Clone(pk.Payload))
	h.m.mu.Unlock()
	return pk, nil
}
