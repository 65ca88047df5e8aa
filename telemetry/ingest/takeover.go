package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahosession "github.com/eclipse/paho.golang/paho/session"

	"github.com/openiomt/sdk/internal/mqttconn"
)

// Presence payloads (retained, QoS 1, on PresenceTopic).
const (
	presenceAlive = "alive"
	presenceDead  = "dead" // the worker's Will: its connection died without DISCONNECT
)

// DefaultTakeoverDelay is how long a dead worker may take to come back
// before a survivor drains its session.
const DefaultTakeoverDelay = 10 * time.Second

// takeoverQuiet is how long a drained session must stay silent, with every
// message it delivered acknowledged, before the takeover ends it.
const takeoverQuiet = time.Second

// PresencePrefix is the topic prefix of worker presence messages with
// Config.Takeover: PresencePrefix + group + "/" + ClientID. Workers publish
// (retained) and subscribe there; grant them that in broker ACLs.
const PresencePrefix = "iomt-ingest/presence/"

// PresenceTopic is the retained presence topic of worker clientID in group.
func PresenceTopic(group, clientID string) string {
	return PresencePrefix + group + "/" + clientID
}

// errTakenOver reports that the broker ended a takeover connection because
// another connection with the same ClientID resumed the session: the dead
// worker came back, or another survivor took over.
var errTakenOver = errors.New("ingest: takeover connection replaced by another with the same ClientID")

// reasonSessionTakenOver is the MQTT 5 DISCONNECT reason code "Session
// taken over".
const reasonSessionTakenOver = 0x8E

// takenOverWait is how long a survivor whose takeover connection was
// replaced waits for the peer's presence to say "alive" before it tries
// again (the replacing connection may have been another survivor that
// crashed while draining).
func (in *Ingest) takenOverWait() time.Duration {
	return max(4*in.cfg.TakeoverDelay, 30*time.Second)
}

// owner tracks the messages one takeover connection delivered into the
// pipeline.
type owner struct {
	pending atomic.Int64
	last    atomic.Int64 // unix nanoseconds of the last receive or ack
}

func (o *owner) touch() { o.last.Store(time.Now().UnixNano()) }

// peers is a worker's view of its group, from presence messages.
type peers struct {
	mu      sync.Mutex
	alive   map[string]bool // ClientID → alive (false: dead)
	running map[string]context.CancelFunc
}

// onPresence handles a presence message on the main connection.
func (in *Ingest) onPresence(topic string, payload []byte) {
	id := strings.TrimPrefix(topic, in.presencePrefix)
	if id == "" || strings.Contains(id, "/") {
		return
	}
	p := &in.peers
	p.mu.Lock()
	if id == in.cfg.ClientID {
		// This worker is connected, so any other presence of its own is
		// stale: the Will of a connection the broker replaced, or a
		// survivor clearing it after a takeover this worker interrupted.
		if cm := in.cmUp.Load(); cm != nil && string(payload) != presenceAlive && in.tkCtx.Err() == nil {
			in.tkWG.Add(1)
			go func() {
				defer in.tkWG.Done()
				in.publishAlive(in.tkCtx, cm)
			}()
		}
		p.mu.Unlock()
		return
	}
	switch string(payload) {
	case presenceAlive:
		p.alive[id] = true
	case presenceDead:
		p.alive[id] = false
	default: // cleared: drained by someone, or gone cleanly
		delete(p.alive, id)
	}
	in.evaluateLocked()
	p.mu.Unlock()
}

// evaluateLocked starts a takeover of every dead peer this worker is
// responsible for, and stops takeovers of peers that came back.
func (in *Ingest) evaluateLocked() {
	p := &in.peers
	if in.tkCtx.Err() != nil {
		return // closing
	}
	for id, cancel := range p.running {
		if p.alive[id] {
			cancel()
			delete(p.running, id)
		}
	}
	for id, alive := range p.alive {
		if alive || p.running[id] != nil || in.chooseLocked(id) != in.cfg.ClientID {
			continue
		}
		ctx, cancel := context.WithCancel(in.tkCtx)
		p.running[id] = cancel
		in.tkWG.Add(1)
		go func() {
			defer in.tkWG.Done()
			in.takeover(ctx, id)
			p.mu.Lock()
			if c := p.running[id]; c != nil {
				c()
				delete(p.running, id)
			}
			p.mu.Unlock()
		}()
	}
}

// chooseLocked picks the live worker that drains dead: rendezvous hashing
// over the live workers, so that workers with the same view agree and the
// load of several dead peers spreads. Workers whose views differ for a
// moment may both try; the broker then hands the session to the later
// connection, and the store's (device, seq) key absorbs any redelivery.
func (in *Ingest) chooseLocked(dead string) string {
	best, bestH := in.cfg.ClientID, rendezvous(dead, in.cfg.ClientID)
	for id, alive := range in.peers.alive {
		if !alive {
			continue
		}
		if h := rendezvous(dead, id); h > bestH || (h == bestH && id < best) {
			best, bestH = id, h
		}
	}
	return best
}

func rendezvous(dead, live string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(dead))
	h.Write([]byte{0})
	h.Write([]byte(live))
	return h.Sum64()
}

// takeover waits TakeoverDelay for the dead peer to come back, then drains
// its session, retrying with backoff until done or cancelled (the peer
// came back, or this worker is closing).
func (in *Ingest) takeover(ctx context.Context, peer string) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(in.cfg.TakeoverDelay):
	}
	delay := 500 * time.Millisecond
	for {
		in.drains.Add(1)
		done, err := in.drainSession(ctx, peer)
		if done {
			in.log.Info("ingest: drained the session of a dead worker", "worker", in.cfg.ClientID, "peer", peer)
			in.peers.mu.Lock()
			dead := ctx.Err() == nil && !in.peers.alive[peer]
			in.peers.mu.Unlock()
			if dead { // not back meanwhile: clear its "dead"
				in.clearPresence(peer)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errTakenOver) {
			// Do not fight for the ClientID: the peer is back (its
			// "alive" cancels ctx) or another survivor drains it.
			in.log.Info("ingest: takeover stopped: the session was taken over", "worker", in.cfg.ClientID, "peer", peer, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(in.takenOverWait()):
			}
			delay = 500 * time.Millisecond
			continue
		}
		in.log.Warn("ingest: takeover of a dead worker's session interrupted; retrying", "peer", peer, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// drainSession connects with the dead peer's ClientID and clean start off,
// so the broker resumes the peer's session: it re-sends the messages the
// peer never acknowledged and those queued for it. The takeover
// unsubscribes the shared filter at once (no new messages are routed to
// the dead session), feeds everything through this worker's pipeline
// (verify, commit, then acknowledge) and, once the session has been quiet
// with every message acknowledged, disconnects with session expiry 0 so
// the broker discards the now empty session. It reports whether the
// session was fully drained.
func (in *Ingest) drainSession(ctx context.Context, peer string) (bool, error) {
	conn, err := in.dial(ctx)
	if err != nil {
		return false, err
	}
	o := &owner{}
	o.touch()
	gone := make(chan byte, 1) // the reason code of a DISCONNECT from the broker
	c := paho.NewClient(paho.ClientConfig{
		Conn: mqttconn.Wrap(conn), ClientID: peer,
		EnableManualAcknowledgment: true, SendAcksInterval: 2 * time.Millisecond,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			if pr.Packet.QoS == 0 || strings.HasPrefix(pr.Packet.Topic, in.presencePrefix) {
				return true, nil // not a telemetry delivery of the session
			}
			o.touch()
			o.pending.Add(1)
			if !in.enqueue(job{client: pr.Client, pkt: pr.Packet, owner: o}) {
				o.pending.Add(-1)
			}
			return true, nil
		}},
		OnClientError: func(err error) { in.log.Warn("ingest: takeover client error", "peer", peer, "err", err) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case gone <- d.ReasonCode:
			default:
			}
		},
	})
	// lost reports why the connection ended. c.Done is closed before
	// paho calls OnServerDisconnect, hence the bounded wait. mochi says
	// "Session taken over"; Mosquitto 2.0 just closes the replaced
	// connection, so a connection closed without DISCONNECT while this
	// worker's own connection to the same broker stays up (it would be
	// down by the end of the wait after a broker restart or a network
	// failure) counts as taken over too.
	lost := func(wait time.Duration) error {
		select {
		case rc := <-gone:
			if rc == reasonSessionTakenOver {
				return errTakenOver
			}
			return fmt.Errorf("ingest: takeover connection closed by the broker (reason %#x)", rc)
		case <-time.After(wait):
			if in.connected.Load() {
				return fmt.Errorf("%w (closed without DISCONNECT)", errTakenOver)
			}
			return errors.New("ingest: takeover connection closed")
		}
	}
	expiry := uint32(in.cfg.SessionExpiry / time.Second)
	recvMax := uint16(in.cfg.MaxInFlight)
	cctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	ca, err := c.Connect(cctx, &paho.Connect{ClientID: peer, CleanStart: false, KeepAlive: uint16(in.cfg.KeepAlive / time.Second),
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: &recvMax}})
	cancel()
	if err != nil {
		conn.Close()
		<-c.Done()
		return false, err
	}
	zero := uint32(0)
	end := func() (bool, error) {
		err := c.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: &zero}})
		<-c.Done()
		if err != nil { // replaced or lost before the DISCONNECT went out
			return false, lost(time.Second)
		}
		return true, nil
	}
	if !ca.SessionPresent {
		return end() // the session already expired: nothing to drain
	}
	// unsubscribe reports whether the shared filter is gone from the
	// session. mochi refuses an UNSUBSCRIBE whose packet identifier one
	// of the session's outgoing messages still uses (0x91), so a refusal
	// is retried with the next identifiers, and on later ticks once
	// acknowledgements free them, while the drain goes on.
	unsubscribe := func() (bool, error) {
		for range 100 {
			uctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
			ua, err := c.Unsubscribe(uctx, &paho.Unsubscribe{Topics: []string{in.filter}})
			cancel()
			if err == nil {
				return true, nil
			}
			if ua == nil { // no answer: connection trouble
				return false, err
			}
		}
		return false, nil
	}
	unsubscribed, err := unsubscribe()
	if err != nil {
		if errors.Is(err, paho.ErrConnectionLost) || errors.Is(err, pahosession.ErrNoConnection) {
			<-c.Done() // closing already
		}
		select {
		case <-c.Done():
			return false, lost(2 * time.Second)
		default:
		}
		_ = c.Disconnect(&paho.Disconnect{}) // keep the session for the next try
		<-c.Done()
		return false, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = c.Disconnect(&paho.Disconnect{}) // keep the session: not drained
			<-c.Done()
			return false, ctx.Err()
		case <-c.Done():
			// Connection lost, or the peer came back (or another
			// survivor took over) and the broker handed it the session.
			return false, lost(2 * time.Second)
		case <-tick.C:
		}
		if !unsubscribed {
			if unsubscribed, err = unsubscribe(); err != nil {
				continue // c.Done tells why
			}
		}
		if unsubscribed && o.pending.Load() == 0 && time.Since(time.Unix(0, o.last.Load())) >= takeoverQuiet {
			return end()
		}
	}
}

// clearPresence removes a drained peer's retained "dead" message so that
// no other worker tries again.
func (in *Ingest) clearPresence(peer string) {
	ctx, cancel := context.WithTimeout(in.ctx, 5*time.Second)
	defer cancel()
	_, _ = in.cm.Publish(ctx, &paho.Publish{QoS: 1, Retain: true, Topic: in.presencePrefix + peer})
}

// dial opens a connection to the broker like the main connection does.
func (in *Ingest) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	defer cancel()
	if in.tlsCfg != nil {
		d := tls.Dialer{Config: in.tlsCfg}
		return d.DialContext(ctx, "tcp", in.url.Host)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", in.url.Host)
}
