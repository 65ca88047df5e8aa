package ingest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/google/uuid"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/internal/brokertest"
	"github.com/openiomt/sdk/telemetry/store"
)

// stuckStore never commits: a worker over it holds every message it
// receives unacknowledged.
type stuckStore struct{ store.Store }

func (stuckStore) Insert(ctx context.Context, _ []store.Reading) (store.InsertResult, error) {
	<-ctx.Done()
	return store.InsertResult{}, ctx.Err()
}

// stuckIngest is a takeover-enabled worker whose store never commits; it
// prints how many messages it holds until it is killed.
func stuckIngest() int {
	keys, err := telemetry.LoadJWKSFile(os.Getenv("IOMT_CHAOS_JWKS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest keys:", err)
		return 3
	}
	v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, Replay: ingest.NoReplayWindow{}})
	if err != nil {
		return 3
	}
	in, err := ingest.New(ingest.Config{ServerURL: os.Getenv("IOMT_CHAOS_URL"), InsecurePlaintext: true,
		ClientID: os.Getenv("IOMT_CHAOS_ID"), Group: os.Getenv("IOMT_CHAOS_GROUP"),
		Verifier: ingest.FromTelemetry(v), Store: stuckStore{}, Takeover: true, TakeoverDelay: 100 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		return 3
	}
	for !in.Stats().Connected {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ready")
	last := uint64(0)
	for { // until SIGKILL
		if n := in.Stats().Received; n != last {
			last = n
			fmt.Println("holding", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashedWorkerMessagesRedeliveredToSurvivors: worker A receives its
// share of the readings, holds them unacknowledged (its store never
// commits) and is SIGKILLed, never to return. Mosquitto keeps A's
// unacknowledged and queued messages in A's session and keeps routing it
// its share of new ones; worker B, the survivor, must drain that session
// and store every reading exactly once.
func TestCrashedWorkerMessagesRedeliveredToSurvivors(t *testing.T) {
	t.Run("mosquitto", func(t *testing.T) {
		crashedWorkerRedelivered(t, testenv.StartMosquitto(t, testenv.MosquittoConfig{}).Addr)
	})
	t.Run("embedded", func(t *testing.T) {
		crashedWorkerRedelivered(t, brokertest.StartMochi(t, brokertest.MochiConfig{}).Addr)
	})
}

func crashedWorkerRedelivered(t *testing.T, addr string) {
	url := "mqtt://" + addr
	group := "takeover" + uuid.NewString()[:8]
	f := newFleet()
	d := f.add(t, mustPat())
	jwks := f.writeJWKS(t)

	a := spawn(t, "IOMT_CHAOS_CHILD=stuck-ingest", "IOMT_CHAOS_URL="+url, "IOMT_CHAOS_JWKS="+jwks,
		"IOMT_CHAOS_GROUP="+group, "IOMT_CHAOS_ID="+group+"-a")
	a.await(t, "ready", 30*time.Second)

	s := sqliteStore(t)
	b := startIngest(t, ingest.Config{ServerURL: url, InsecurePlaintext: true, ClientID: group + "-b", Group: group,
		Verifier: f.verifier(t), Store: s, Takeover: true, TakeoverDelay: 200 * time.Millisecond})
	time.Sleep(300 * time.Millisecond) // both shared subscriptions in place

	const first, second = 100, 100
	pub := newRawPublisher(t, addr, d.id.String())
	for seq := uint64(1); seq <= first; seq++ {
		pub.publish(t, d.topic(), d.envelope(t, seq, time.Now()))
	}
	// B stored its share; A holds the rest unacknowledged (or has it queued
	// in its session).
	held := awaitHeld(t, a, first, func() int64 { return count(t, s) })
	t.Logf("A holds %d unacknowledged readings; SIGKILL", held)
	a.kill()
	// Readings published after the crash, while A's session lives on.
	for seq := uint64(first + 1); seq <= first+second; seq++ {
		pub.publish(t, d.topic(), d.envelope(t, seq, time.Now()))
	}
	waitFor(t, "B stores every reading", func() bool { return count(t, s) >= first+second })
	time.Sleep(500 * time.Millisecond) // late redeliveries must not add rows
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
	st := b.Stats()
	t.Logf("B: received %d, stored %d, duplicates %d", st.Received, st.Stored, st.Duplicates)
}

type rawPublisher struct{ c *paho.Client }

func newRawPublisher(t *testing.T, addr, id string) *rawPublisher {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: id})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}); <-c.Done() })
	return &rawPublisher{c: c}
}

func (p *rawPublisher) publish(t *testing.T, topic string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.c.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}
