package ingest_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/google/uuid"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/internal/brokertest"
	"github.com/openiomt/sdk/telemetry/store"
)

// gatedStore holds every Insert until open is called.
type gatedStore struct {
	store.Store
	gate chan struct{}
	once sync.Once
}

func newGatedStore(s store.Store) *gatedStore {
	return &gatedStore{Store: s, gate: make(chan struct{})}
}

func (g *gatedStore) open() { g.once.Do(func() { close(g.gate) }) }

func (g *gatedStore) Insert(ctx context.Context, rs []store.Reading) (store.InsertResult, error) {
	select {
	case <-g.gate:
		return g.Store.Insert(ctx, rs)
	case <-ctx.Done():
		return store.InsertResult{}, ctx.Err()
	}
}

// msgCounter is a slog handler counting records by message.
type msgCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newMsgCounter() *msgCounter { return &msgCounter{n: map[string]int{}} }

func (c *msgCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *msgCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Message]++
	c.mu.Unlock()
	return nil
}
func (c *msgCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *msgCounter) WithGroup(string) slog.Handler      { return c }

func (c *msgCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[msg]
}

// awaitHeld reads the stuck child's "holding n" lines until it and the
// survivor together received every one of want readings; it returns how
// many the child holds.
func awaitHeld(t *testing.T, a *child, want int64, others func() int64) int {
	t.Helper()
	held := 0
	deadline := time.After(60 * time.Second)
	// The broker may also queue some of A's share in A's session rather
	// than send it (seen: A held 45, the survivors stored 100 of 150). Those
	// are drained by the takeover too, so once A holds some and the tally
	// has not moved for 5 s, go on: the callers' exact final counts still
	// catch any reading lost.
	tally, still := -1, time.Now()
	for held == 0 || int64(held)+others() < want {
		select {
		case l := <-a.out:
			if n, ok := strings.CutPrefix(l, "holding "); ok {
				held, _ = strconv.Atoi(n)
			}
		case <-deadline:
			t.Fatalf("the crashed worker holds %d, the survivor received %d of %d", held, others(), want)
		case <-time.After(50 * time.Millisecond):
		}
		if now := held + int(others()); now != tally {
			tally, still = now, time.Now()
		} else if held > 0 && time.Since(still) > 5*time.Second {
			t.Logf("the crashed worker holds %d, the others %d of %d; the rest is queued in its session", held, others(), want)
			break
		}
	}
	if int64(held) >= want {
		t.Fatalf("the crashed worker holds %d of %d: the shared subscription did not split the load", held, want)
	}
	return held
}

// connectAs connects a bare client that resumes id's session and never
// acknowledges anything.
func connectAs(t *testing.T, addr, id string) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: id, EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) { return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	expiry := uint32(3600)
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Fatal("no session to resume")
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}); <-c.Done() })
	return c
}

// TestCrashedWorkerReturnsDuringTakeover: worker A is SIGKILLed holding
// unacknowledged readings; survivor B takes over A's session and, its store
// being slow, is still draining it when A comes back with the same
// ClientID. The broker hands the session back to A. B must stop its
// takeover without reconnecting as A (no fight for the ClientID), A must
// store what B had not committed and go on consuming its share of the
// shared subscription, and the store must hold every reading exactly once.
func TestCrashedWorkerReturnsDuringTakeover(t *testing.T) {
	t.Run("mosquitto", func(t *testing.T) {
		crashedWorkerReturns(t, testenv.StartMosquitto(t, testenv.MosquittoConfig{}).Addr)
	})
	t.Run("embedded", func(t *testing.T) {
		crashedWorkerReturns(t, brokertest.StartMochi(t, brokertest.MochiConfig{}).Addr)
	})
}

func crashedWorkerReturns(t *testing.T, addr string) {
	url := "mqtt://" + addr
	group := "return" + uuid.NewString()[:8]
	f := newFleet()
	d := f.add(t, mustPat())
	jwks := f.writeJWKS(t)

	a := spawn(t, "IOMT_CHAOS_CHILD=stuck-ingest", "IOMT_CHAOS_URL="+url, "IOMT_CHAOS_JWKS="+jwks,
		"IOMT_CHAOS_GROUP="+group, "IOMT_CHAOS_ID="+group+"-a")
	a.await(t, "ready", 30*time.Second)

	s := sqliteStore(t)
	slow := newGatedStore(s)
	bLog := newMsgCounter()
	b := startIngest(t, ingest.Config{ServerURL: url, InsecurePlaintext: true, ClientID: group + "-b", Group: group,
		Verifier: f.verifier(t), Store: slow, Takeover: true, TakeoverDelay: 200 * time.Millisecond, Logger: slog.New(bLog)})
	t.Cleanup(slow.open) // before B closes
	// A's "alive" follows its subscription, and B's presence subscription
	// came with its shared one: both members are in place.
	waitFor(t, "B sees A alive", func() bool { return b.AlivePeers() == 1 })

	const first, second = 100, 100
	pub := newRawPublisher(t, addr, d.id.String())
	for seq := uint64(1); seq <= first; seq++ {
		pub.publish(t, d.topic(), d.envelope(t, seq, time.Now()))
	}
	held := awaitHeld(t, a, first, func() int64 { return int64(b.Stats().Received) })
	t.Logf("A holds %d unacknowledged readings; SIGKILL", held)
	a.kill()

	// B takes over A's session: A's readings reach B's pipeline, where
	// the slow store holds them uncommitted.
	waitFor(t, "B receives A's readings through the takeover", func() bool { return b.Stats().Received >= first })
	if n := b.TakeoverAttempts(); n != 1 {
		t.Fatalf("B opened %d takeover connections, want 1", n)
	}

	// A comes back while B is still draining. First A's new connection
	// resumes the session, before A has published "alive" (a bare client
	// with A's ClientID stands for that moment): the broker disconnects
	// B's takeover connection, and B must not take the ClientID back.
	ret := connectAs(t, addr, group+"-a")
	waitFor(t, "B's takeover connection replaced", func() bool { return bLog.count("ingest: takeover stopped: the session was taken over") == 1 })
	select {
	case <-ret.Done():
		t.Fatal("B reconnected with the returned worker's ClientID")
	case <-time.After(3 * time.Second): // several of B's former 500 ms retries
	}
	if n := b.TakeoverAttempts(); n != 1 {
		t.Fatalf("B opened %d takeover connections, want 1", n)
	}
	if err := ret.Disconnect(&paho.Disconnect{}); err != nil { // keeps the session
		t.Fatal(err)
	}
	<-ret.Done()

	// Then A runs again.
	aLog := newMsgCounter()
	a2 := startIngest(t, ingest.Config{ServerURL: url, InsecurePlaintext: true, ClientID: group + "-a", Group: group,
		Verifier: f.verifier(t), Store: s, Takeover: true, TakeoverDelay: 200 * time.Millisecond, Logger: slog.New(aLog)})
	waitFor(t, "A stores the readings it held", func() bool { return a2.Stats().Stored >= uint64(held) })
	waitFor(t, "B stops its takeover", func() bool { return b.TakeoversRunning() == 0 })
	slow.open()
	waitFor(t, "every reading of the first wave stored", func() bool { return count(t, s) >= first })

	// A consumes its share of new readings on the shared subscription.
	aBefore := a2.Stats().Received
	for seq := uint64(first + 1); seq <= first+second; seq++ {
		pub.publish(t, d.topic(), d.envelope(t, seq, time.Now()))
	}
	waitFor(t, "every reading stored", func() bool { return count(t, s) >= first+second })
	if a2.Stats().Received == aBefore {
		t.Fatal("the returned worker received none of the new readings")
	}
	if n := b.TakeoverAttempts(); n != 1 {
		t.Fatalf("B opened %d takeover connections, want 1: it fought the returned worker for its ClientID", n)
	}
	if n := aLog.count("ingest: connection lost"); n != 0 {
		t.Fatalf("the returned worker lost its connection %d times", n)
	}
	if n := count(t, s); n != first+second {
		t.Fatalf("store holds %d readings, want exactly %d", n, first+second)
	}
	rs, err := s.ByPatient(context.Background(), d.pat, store.Range{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, r := range rs {
		if seen[r.Seq] {
			t.Fatalf("seq %d stored twice", r.Seq)
		}
		seen[r.Seq] = true
	}
	for seq := uint64(1); seq <= first+second; seq++ {
		if !seen[seq] {
			t.Fatalf("seq %d lost", seq)
		}
	}
	sa, sb := a2.Stats(), b.Stats()
	t.Logf("A: received %d, stored %d, duplicates %d; B: received %d, stored %d, duplicates %d",
		sa.Received, sa.Stored, sa.Duplicates, sb.Received, sb.Stored, sb.Duplicates)
}

// TestTwoSurvivorsDoNotBothTakeOverOneCrashedWorker: with two survivors
// that see the same live workers, rendezvous hashing picks one of them to
// drain the crashed worker's session; the other never connects with its
// ClientID (which would make the two replace each other's takeover).
func TestTwoSurvivorsDoNotBothTakeOverOneCrashedWorker(t *testing.T) {
	addr := testenv.StartMosquitto(t, testenv.MosquittoConfig{}).Addr
	url := "mqtt://" + addr
	group := "pair" + uuid.NewString()[:8]
	f := newFleet()
	d := f.add(t, mustPat())
	jwks := f.writeJWKS(t)

	a := spawn(t, "IOMT_CHAOS_CHILD=stuck-ingest", "IOMT_CHAOS_URL="+url, "IOMT_CHAOS_JWKS="+jwks,
		"IOMT_CHAOS_GROUP="+group, "IOMT_CHAOS_ID="+group+"-a")
	a.await(t, "ready", 30*time.Second)
	s := sqliteStore(t)
	var survivors []*ingest.Ingest
	for _, id := range []string{"-b", "-c"} {
		survivors = append(survivors, startIngest(t, ingest.Config{ServerURL: url, InsecurePlaintext: true, ClientID: group + id,
			Group: group, Verifier: f.verifier(t), Store: s, Takeover: true, TakeoverDelay: 200 * time.Millisecond}))
	}
	b, c := survivors[0], survivors[1]
	waitFor(t, "each survivor sees the two other workers", func() bool { return b.AlivePeers() == 2 && c.AlivePeers() == 2 })

	const n = 150
	pub := newRawPublisher(t, addr, d.id.String())
	for seq := uint64(1); seq <= n; seq++ {
		pub.publish(t, d.topic(), d.envelope(t, seq, time.Now()))
	}
	held := awaitHeld(t, a, n, func() int64 { return count(t, s) })
	t.Logf("A holds %d unacknowledged readings; SIGKILL", held)
	a.kill()
	waitFor(t, "every reading stored", func() bool { return count(t, s) >= n })
	waitFor(t, "the takeover ends", func() bool {
		return b.TakeoverAttempts()+c.TakeoverAttempts() >= 1 && b.TakeoversRunning() == 0 && c.TakeoversRunning() == 0
	})
	if nb, nc := b.TakeoverAttempts(), c.TakeoverAttempts(); nb+nc != 1 {
		t.Fatalf("takeover connections: B %d, C %d; want one in all", nb, nc)
	}
	if got := count(t, s); got != n {
		t.Fatalf("store holds %d readings, want exactly %d", got, n)
	}
}
