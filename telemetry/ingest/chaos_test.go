package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/openiomt/sdk/internal/testenv"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/publisher"
	"github.com/openiomt/sdk/telemetry/store"
)

// The chaos test re-executes this test binary as device and ingest-worker
// processes, so that it can SIGKILL them.
const (
	chaosDevices   = 4
	chaosPerDevice = 2500
	chaosWorkers   = 2
)

func chaosChild() bool {
	switch os.Getenv("IOMT_CHAOS_CHILD") {
	case "device":
		os.Exit(chaosDevice())
	case "ingest":
		os.Exit(chaosIngest())
	case "stuck-ingest":
		os.Exit(stuckIngest())
	}
	return false
}

// chaosDevice publishes readings IOMT_CHAOS_FROM.. up to IOMT_CHAOS_N,
// recording the last one handed to the publisher in a progress file, then
// waits for the outbox to drain.
func chaosDevice() int {
	key, dev, err := telemetry.LoadPrivateJWKFile(os.Getenv("IOMT_CHAOS_KEY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "device key:", err)
		return 3
	}
	pat := iomt.MustParsePatientID(os.Getenv("IOMT_CHAOS_PAT"))
	n, _ := strconv.Atoi(os.Getenv("IOMT_CHAOS_N"))
	dir := os.Getenv("IOMT_CHAOS_STATE")
	progress := filepath.Join(dir, "progress")
	next := uint64(1)
	if b, err := os.ReadFile(progress); err == nil {
		last, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		next = last + 1
	}
	p, err := publisher.New(publisher.Config{ServerURL: os.Getenv("IOMT_CHAOS_URL"), InsecurePlaintext: true, DeviceID: dev,
		StateDir: dir, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, PublishTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "device:", err)
		return 3
	}
	topic := telemetry.Topic(dev, iomt.KindBloodPressure)
	for seq := next; seq <= uint64(n); seq++ {
		// Explicit sequence numbers (SignPayload, no SequenceStore): a
		// reading re-sent after the crash keeps its number, so the store
		// can recognise it.
		env, err := signEnvelope(key, dev, pat, seq, time.Now())
		if err != nil {
			fmt.Fprintln(os.Stderr, "device sign:", err)
			return 3
		}
		if err := p.PublishEnvelope(context.Background(), topic, env); err != nil {
			fmt.Fprintln(os.Stderr, "device publish:", err)
			return 3
		}
		// Losing this write in a crash only re-sends one reading.
		os.WriteFile(progress, []byte(strconv.FormatUint(seq, 10)), 0o600)
		if seq%4 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "device close:", err)
		return 3
	}
	fmt.Println("done")
	return 0
}

// chaosIngest runs one ingest worker until SIGTERM.
func chaosIngest() int {
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, os.Getenv("IOMT_CHAOS_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest store:", err)
		return 3
	}
	defer s.Close()
	keys, err := telemetry.LoadJWKSFile(os.Getenv("IOMT_CHAOS_JWKS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest keys:", err)
		return 3
	}
	v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, Replay: ingest.NoReplayWindow{}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest verifier:", err)
		return 3
	}
	in, err := ingest.New(ingest.Config{ServerURL: os.Getenv("IOMT_CHAOS_URL"), InsecurePlaintext: true,
		ClientID: os.Getenv("IOMT_CHAOS_ID"), Group: os.Getenv("IOMT_CHAOS_GROUP"),
		Verifier: ingest.FromTelemetry(v), Store: s})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		return 3
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	in.Close(cctx)
	st := in.Stats()
	fmt.Printf("stats received=%d stored=%d duplicates=%d rejected=%v\n", st.Received, st.Stored, st.Duplicates, st.RejectedBy)
	return 0
}

type child struct {
	cmd  *exec.Cmd
	out  chan string
	done chan struct{}
}

func spawn(t *testing.T, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case c.out <- sc.Text():
			default:
			}
		}
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) kill() {
	select {
	case <-c.done:
	default:
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
	}
}

func (c *child) term(t *testing.T) {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Error("child did not stop on SIGTERM")
		c.kill()
	}
}

func (c *child) await(t *testing.T, line string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l := <-c.out:
			if l == line {
				return
			}
		case <-c.done:
			t.Fatalf("child exited before %q", line)
		case <-timeout:
			t.Fatalf("child did not print %q", line)
		}
	}
}

// TestChaosExactlyOnce: 10,000 readings from 4 device processes while the
// broker restarts 3 times, one device process is SIGKILLed and restarted,
// and one of two ingest workers is SIGKILLed and restarted. The store must
// hold exactly the 10,000 readings: none lost, none duplicated.
func TestChaosExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	m := testenv.StartMosquitto(t, testenv.MosquittoConfig{Extra: "max_inflight_messages 100\n"})
	dsn := testenv.FreshPostgresDSN(t)
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "mqtt://" + m.Addr
	group := "chaos" + uuid.NewString()[:8]

	f := newFleet()
	pat := mustPat()
	fleetDevs := make([]*device, chaosDevices)
	for i := range fleetDevs {
		fleetDevs[i] = f.add(t, pat)
	}
	jwks := f.writeJWKS(t)
	workerEnv := func(i int) []string {
		return []string{"IOMT_CHAOS_CHILD=ingest", "IOMT_CHAOS_URL=" + url, "IOMT_CHAOS_DSN=" + dsn, "IOMT_CHAOS_JWKS=" + jwks,
			"IOMT_CHAOS_GROUP=" + group, fmt.Sprintf("IOMT_CHAOS_ID=%s-w%d", group, i)}
	}
	workers := make([]*child, chaosWorkers)
	for i := range workers {
		workers[i] = spawn(t, workerEnv(i)...)
		workers[i].await(t, "ready", 20*time.Second)
	}
	time.Sleep(300 * time.Millisecond) // subscriptions

	type proc struct {
		env []string
		c   *child
	}
	devs := make([]*proc, chaosDevices)
	ids := make([]iomt.DeviceID, chaosDevices)
	for i := range devs {
		ids[i] = fleetDevs[i].id
		keyFile := filepath.Join(t.TempDir(), "device.jwk")
		kb, err := telemetry.MarshalPrivateJWK(fleetDevs[i].key, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(keyFile, kb, 0o600)
		devs[i] = &proc{env: []string{"IOMT_CHAOS_CHILD=device", "IOMT_CHAOS_URL=" + url,
			"IOMT_CHAOS_KEY=" + keyFile, "IOMT_CHAOS_PAT=" + pat.String(),
			fmt.Sprintf("IOMT_CHAOS_N=%d", chaosPerDevice), "IOMT_CHAOS_STATE=" + t.TempDir()}}
		devs[i].c = spawn(t, devs[i].env...)
	}

	rows := func() int64 {
		n, err := s.Count(ctx)
		if err != nil {
			return -1
		}
		return n
	}
	waitRows := func(n int64) {
		deadline := time.Now().Add(60 * time.Second)
		for rows() < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}

	start := time.Now()
	waitRows(1000)
	m.Restart() // 1
	t.Logf("%v broker restart 1 at %d rows", time.Since(start), rows())
	waitRows(2500)
	devs[0].c.kill() // device power loss mid-stream
	t.Logf("%v device killed at %d rows", time.Since(start), rows())
	devs[0].c = spawn(t, devs[0].env...)
	waitRows(4000)
	workers[1].kill() // ingest worker crash
	t.Logf("%v ingest worker killed at %d rows", time.Since(start), rows())
	m.Restart() // 2
	t.Logf("%v broker restart 2 at %d rows", time.Since(start), rows())
	workers[1] = spawn(t, workerEnv(1)...)
	workers[1].await(t, "ready", 20*time.Second)
	waitRows(6500)
	m.Restart() // 3
	t.Logf("%v broker restart 3 at %d rows", time.Since(start), rows())

	for i, d := range devs {
		select {
		case <-d.c.done:
			if d.c.cmd.ProcessState.ExitCode() != 0 {
				t.Fatalf("device %d exited with %d", i, d.c.cmd.ProcessState.ExitCode())
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("device %d did not drain its outbox; %d rows", i, rows())
		}
	}
	t.Logf("%v devices done, %d rows", time.Since(start), rows())
	waitRows(chaosDevices * chaosPerDevice)
	t.Logf("%v %d rows", time.Since(start), rows())
	time.Sleep(500 * time.Millisecond) // late redeliveries must not add rows
	for _, w := range workers {
		w.term(t)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var total, distinct int64
	conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT (device_id, seq)) FROM iomt_readings`).Scan(&total, &distinct)
	if total != chaosDevices*chaosPerDevice || distinct != total {
		t.Fatalf("store holds %d rows (%d distinct), want exactly %d", total, distinct, chaosDevices*chaosPerDevice)
	}
	for _, id := range ids {
		var n, lo, hi int64
		conn.QueryRow(ctx, `SELECT COUNT(*), MIN(seq), MAX(seq) FROM iomt_readings WHERE device_id = $1`, id.String()).Scan(&n, &lo, &hi)
		if n != chaosPerDevice || lo != 1 || hi != chaosPerDevice {
			t.Errorf("device has %d readings, seq %d..%d; want 1..%d", n, lo, hi, chaosPerDevice)
		}
	}
}
