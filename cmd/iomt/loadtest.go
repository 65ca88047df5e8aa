package main

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/internal/mqttconn"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/store"
)

// Limits of the load test's flags.
const (
	loadtestMaxDevices = 10_000
	loadtestMaxRate    = 1_000_000
	loadtestMaxWorkers = 64
	// loadtestMaxPresigned bounds --presign's envelopes (about 500 B each).
	loadtestMaxPresigned = 2_000_000
)

type loadtestOpts struct {
	broker   string
	devices  int
	rate     float64
	duration time.Duration
	verify   bool
	store    string
	dsn      string
	db       string
	workers  int
	alg      string
	drain    time.Duration
	compare  bool
	jsonOut  bool
	cpuprof  string
	presign  bool
}

// loadtestResult is one phase's outcome; also the --json form.
type loadtestResult struct {
	Phase    string  `json:"phase"`
	Verify   bool    `json:"verify"`
	Store    string  `json:"store"`
	Seconds  float64 `json:"seconds"`
	Sent     uint64  `json:"sent"`
	Stored   uint64  `json:"stored"`
	Rate     float64 `json:"stored_per_second"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
	Rejected uint64  `json:"rejected"`
	// RejectedBy counts rejections by reason (omitted when none).
	RejectedBy   map[string]uint64 `json:"rejected_by,omitempty"`
	Lost         int64             `json:"lost"`
	Duplicates   uint64            `json:"duplicates"`
	HeapStartMiB float64           `json:"heap_first_quarter_mib"`
	HeapEndMiB   float64           `json:"heap_last_quarter_mib"`
	HeapPeakMiB  float64           `json:"heap_peak_mib"`
	PeakRSSMiB   float64           `json:"peak_rss_mib"`
	PublishErrs  uint64            `json:"publish_errors"`
	// Presigned: envelopes were signed before the clock started and
	// latency runs from each reading's scheduled publish instant.
	Presigned bool `json:"presigned"`
}

func newLoadtestCmd() *cobra.Command {
	var o loadtestOpts
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Drive simulated devices through a real broker into ingest and a store, and measure",
		Long: `loadtest runs N simulated devices, each with its own key and MQTT
connection, that sign real telemetry envelopes and publish them at QoS 1 at
a total rate through the broker. In the same process, W ingest workers
consume them on one shared subscription, verify them and store them, and
the tool reports:

  readings/s stored, end-to-end latency p50/p99/max (measurement time in the
  envelope to store commit), rejected, lost (acknowledged by the broker but
  never stored), duplicates, and heap in the first and last quarter of the
  run, peak heap and peak RSS (memory must stay flat).

--verify=false --store=none is the raw baseline: the same devices, broker
and ingest pipeline without signature verification or database. --compare
runs the baseline and then the full configuration in one invocation and
prints the ratio.

--presign signs every envelope before the clock starts, with the
measurement time set to the instant the device is scheduled to publish
it, so that the simulated fleet's signing does not compete for this
machine's cores with the broker, ingest and database (a real fleet signs
on its own hardware). Latency then runs from the scheduled publish
instant (any lateness of the simulated device included) to the store
commit, and the heap holds the not yet sent envelopes (it shrinks over the
run). Without it, devices sign as they go and latency includes signing.

The broker is a lab broker reached in plaintext (mqtt://host:port) that
carries no other telemetry during the run: the ingest subscribes to every
device's telemetry topic, so readings of devices the tool did not create
are rejected (unknown-device) and fail the run. Use a database you can
write test rows to; rows use fresh random device and patient UUIDs.

Exit status: 0 when nothing was lost, 1 when readings were lost or
rejected, 2 on usage errors.

Example:
  iomt loadtest --broker mqtt://127.0.0.1:1883 --store postgres \
    --dsn postgres://postgres@127.0.0.1:5432/test --rate 5000 --duration 60s --compare`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			return o.validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoadtest(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.broker, "broker", "mqtt://127.0.0.1:1883", "broker URL (plaintext mqtt://, lab brokers only)")
	f.IntVar(&o.devices, "devices", 50, "simulated devices (connections)")
	f.Float64Var(&o.rate, "rate", 1000, "total readings per second")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to publish")
	f.BoolVar(&o.verify, "verify", true, "verify envelope signatures in the ingest")
	f.StringVar(&o.store, "store", "sqlite", "readings store: postgres, sqlite or none")
	f.StringVar(&o.dsn, "dsn", "", "PostgreSQL DSN for --store postgres")
	f.StringVar(&o.db, "db", "", "SQLite file for --store sqlite (default: a temporary file)")
	f.IntVar(&o.workers, "workers", 4, "ingest workers on the shared subscription")
	f.StringVar(&o.alg, "alg", "ES256", "device key algorithm: ES256 or EdDSA")
	f.DurationVar(&o.drain, "drain", 15*time.Second, "how long to wait after publishing for the ingest to catch up")
	f.BoolVar(&o.compare, "compare", false, "run the raw baseline (--verify=false --store=none) first and report the ratio")
	f.BoolVar(&o.jsonOut, "json", false, "print results as JSON lines")
	f.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.BoolVar(&o.presign, "presign", false, "sign all envelopes before the run (device CPU off this machine's cores); latency from the scheduled publish instant")
	return cmd
}

func (o *loadtestOpts) validate() error {
	u, err := url.Parse(o.broker)
	if err != nil || (u.Scheme != "mqtt" && u.Scheme != "tcp") || u.Host == "" {
		return usagef("loadtest: --broker must be mqtt://host:port")
	}
	switch {
	case o.devices < 1 || o.devices > loadtestMaxDevices:
		return usagef("loadtest: --devices must be 1-%d", loadtestMaxDevices)
	case o.rate <= 0 || o.rate > loadtestMaxRate:
		return usagef("loadtest: --rate must be in (0, %d]", loadtestMaxRate)
	case o.duration <= 0 || o.duration > 24*time.Hour:
		return usagef("loadtest: --duration must be in (0, 24h]")
	case o.workers < 1 || o.workers > loadtestMaxWorkers:
		return usagef("loadtest: --workers must be 1-%d", loadtestMaxWorkers)
	case o.drain < 0:
		return usagef("loadtest: --drain must not be negative")
	case o.presign && o.rate*o.duration.Seconds() > loadtestMaxPresigned:
		return usagef("loadtest: --presign holds every envelope in memory: rate × duration must be at most %d", loadtestMaxPresigned)
	}
	switch o.store {
	case "postgres":
		if o.dsn == "" {
			return usagef("loadtest: --store postgres needs --dsn")
		}
	case "sqlite", "none":
	default:
		return usagef("loadtest: --store must be postgres, sqlite or none")
	}
	if _, err := telemetry.ParseAlgorithm(o.alg); err != nil {
		return usagef("loadtest: --alg must be ES256 or EdDSA")
	}
	return nil
}

func runLoadtest(ctx context.Context, o loadtestOpts, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.cpuprof != "" {
		f, err := os.Create(o.cpuprof)
		if err != nil {
			return usagef("loadtest: --cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var results []loadtestResult
	if o.compare {
		base := o
		base.verify, base.store = false, "none"
		r, err := loadtestPhase(ctx, base, "baseline")
		if err != nil {
			return err
		}
		results = append(results, r)
		printLoadtest(out, o.jsonOut, r)
	}
	r, err := loadtestPhase(ctx, o, "full")
	if err != nil {
		return err
	}
	results = append(results, r)
	printLoadtest(out, o.jsonOut, r)
	if o.presign && !o.jsonOut {
		fmt.Fprintln(out, "presigned: envelopes signed before the run; latency from each reading's scheduled publish instant to its store commit")
	}
	if o.compare && results[0].Rate > 0 && !o.jsonOut {
		fmt.Fprintf(out, "ratio full/baseline: %.2f\n", r.Rate/results[0].Rate)
	}
	for _, r := range results {
		if r.Lost > 0 || r.Rejected > 0 {
			return checkFailed("loadtest", fmt.Errorf("%s phase: %d lost, %d rejected", r.Phase, r.Lost, r.Rejected))
		}
	}
	return nil
}

func printLoadtest(out io.Writer, asJSON bool, r loadtestResult) {
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(out, string(b))
		return
	}
	fmt.Fprintf(out, "%s (verify=%v store=%s): %d sent, %d stored in %.1fs (until the last commit) = %.0f readings/s; latency p50 %.1f ms p99 %.1f ms max %.1f ms; rejected %d, lost %d, duplicates %d, publish errors %d; heap %.1f→%.1f MiB (peak %.1f), peak RSS %.1f MiB\n",
		r.Phase, r.Verify, r.Store, r.Sent, r.Stored, r.Seconds, r.Rate, r.P50ms, r.P99ms, r.Maxms,
		r.Rejected, r.Lost, r.Duplicates, r.PublishErrs, r.HeapStartMiB, r.HeapEndMiB, r.HeapPeakMiB, r.PeakRSSMiB)
	if len(r.RejectedBy) > 0 {
		fmt.Fprintf(out, "  rejected by reason: %v\n", r.RejectedBy)
	}
}

// latencyHist is a fixed-bucket latency histogram (100 µs buckets up to
// 2 min), so memory stays constant however many readings pass.
type latencyHist struct {
	mu      sync.Mutex
	buckets [1_200_001]uint32
	n       uint64
	max     time.Duration
}

func (h *latencyHist) add(d time.Duration) {
	i := int(d / (100 * time.Microsecond))
	if i < 0 {
		i = 0
	}
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.mu.Lock()
	h.buckets[i]++
	h.n++
	h.max = max(h.max, d)
	h.mu.Unlock()
}

func (h *latencyHist) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	want := uint64(q * float64(h.n))
	var c uint64
	for i, b := range h.buckets {
		c += uint64(b)
		if c > want {
			return time.Duration(i+1) * 100 * time.Microsecond
		}
	}
	return h.max
}

// passthroughVerifier is the baseline's "verifier": it reads the payload
// without checking the signature, so the baseline still knows devices,
// sequence numbers and measurement times.
type passthroughVerifier struct{}

func (passthroughVerifier) Check(_ context.Context, _ string, env []byte) (ingest.Accepted, error) {
	parts := strings.SplitN(string(env), ".", 3)
	if len(parts) != 3 {
		return ingest.Accepted{}, errors.New("loadtest: not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ingest.Accepted{}, err
	}
	p, err := telemetry.ParsePayload(b)
	if err != nil {
		return ingest.Accepted{}, err
	}
	r, err := ingest.ReadingFromPayload(p)
	return ingest.Accepted{Reading: r}, err
}

func (passthroughVerifier) Commit(context.Context, ingest.Accepted) error { return nil }

// nullStore discards readings (the baseline).
type nullStore struct{}

func (nullStore) Insert(_ context.Context, rs []store.Reading) (store.InsertResult, error) {
	return store.InsertResult{Inserted: len(rs)}, nil
}
func (nullStore) ByPatient(context.Context, iomt.PatientID, store.Range) ([]store.Reading, error) {
	return nil, nil
}
func (nullStore) LatestByPatient(context.Context, iomt.PatientID) ([]store.Reading, error) {
	return nil, nil
}
func (nullStore) Close() error { return nil }

type simDevice struct {
	id     iomt.DeviceID
	pat    iomt.PatientID
	key    crypto.Signer
	topic  string
	client *paho.Client
	seq    atomic.Uint64
	pre    [][]byte // --presign: the envelopes in publishing order
}

// signReading signs reading seq of d measured at at.
func (d *simDevice) signReading(seq uint64, at time.Time) ([]byte, error) {
	return telemetry.SignPayload(d.key, &telemetry.Payload{Version: telemetry.PayloadVersion, Device: d.id, Patient: d.pat,
		Seq: seq, Time: at.UTC(), Kind: iomt.KindBloodPressure,
		Reading: iomt.BloodPressure{Systolic: float64(100 + seq%60), Diastolic: 70, Pulse: 66, Unit: iomt.MmHg, MeasuredAt: at.UTC()}}, nil)
}

// presign signs every reading of every device for a run starting at
// start, on all cores, and returns how long it took.
func presign(devs []*simDevice, start time.Time, interval, duration time.Duration) error {
	end := start.Add(duration)
	var wg sync.WaitGroup
	errs := make(chan error, len(devs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, d := range devs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			next := start.Add(interval * time.Duration(i) / time.Duration(len(devs)))
			for seq := uint64(1); !next.After(end); seq++ {
				env, err := d.signReading(seq, next)
				if err != nil {
					errs <- err
					return
				}
				d.pre = append(d.pre, env)
				next = next.Add(interval)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func loadtestPhase(ctx context.Context, o loadtestOpts, phase string) (loadtestResult, error) {
	res := loadtestResult{Phase: phase, Verify: o.verify, Store: o.store}
	alg, _ := telemetry.ParseAlgorithm(o.alg)
	keys := &telemetry.MemoryResolver{}
	devs := make([]*simDevice, o.devices)
	for i := range devs {
		key, err := telemetry.GenerateKey(alg, nil)
		if err != nil {
			return res, err
		}
		id, _ := iomt.NewDeviceID(nil)
		pat, _ := iomt.NewPatientID(nil)
		if err := keys.Add(id, key.Public()); err != nil {
			return res, err
		}
		devs[i] = &simDevice{id: id, pat: pat, key: key, topic: telemetry.Topic(id, iomt.KindBloodPressure)}
	}

	var st store.Store
	var err error
	switch o.store {
	case "postgres":
		st, err = store.OpenPostgres(ctx, o.dsn)
	case "sqlite":
		path := o.db
		if path == "" {
			dir, derr := os.MkdirTemp("", "iomt-loadtest")
			if derr != nil {
				return res, derr
			}
			defer os.RemoveAll(dir)
			path = filepath.Join(dir, "readings.db")
		}
		st, err = store.OpenSQLite(ctx, path)
	default:
		st = nullStore{}
	}
	if err != nil {
		return res, checkFailed("store", err)
	}
	defer st.Close()

	var verifier ingest.Verifier = passthroughVerifier{}
	if o.verify {
		v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, Replay: ingest.NoReplayWindow{}})
		if err != nil {
			return res, err
		}
		verifier = ingest.FromTelemetry(v)
	}

	hist := &latencyHist{}
	var stored, dups atomic.Uint64
	var lastCommit atomic.Int64 // unix nanoseconds
	group := "loadtest-" + uuid.NewString()[:8]
	workers := make([]*ingest.Ingest, o.workers)
	for i := range workers {
		w, err := ingest.New(ingest.Config{
			ServerURL: o.broker, InsecurePlaintext: true,
			ClientID: fmt.Sprintf("%s-w%d", group, i), Group: group,
			Verifier: verifier, Store: st, SessionExpiry: time.Minute,
			OnCommit: func(rs []store.Reading, r store.InsertResult) {
				now := time.Now()
				for _, x := range rs {
					hist.add(now.Sub(x.Time))
				}
				stored.Add(uint64(r.Inserted))
				dups.Add(uint64(r.Duplicates))
				lastCommit.Store(now.UnixNano())
			},
		})
		if err != nil {
			return res, err
		}
		workers[i] = w
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, w := range workers {
			w.Close(cctx)
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for _, w := range workers {
		for !w.Stats().Connected {
			if time.Now().After(deadline) {
				return res, checkFailed("connect", errors.New("ingest workers did not connect to the broker"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the subscriptions settle

	u, _ := url.Parse(o.broker)
	for i, d := range devs {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			return res, checkFailed("connect", err)
		}
		d.client = paho.NewClient(paho.ClientConfig{Conn: mqttconn.Wrap(conn), ClientID: fmt.Sprintf("%s-d%d", group, i)})
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = d.client.Connect(cctx, &paho.Connect{ClientID: fmt.Sprintf("%s-d%d", group, i), CleanStart: true, KeepAlive: 30})
		cancel()
		if err != nil {
			return res, checkFailed("connect", err)
		}
	}
	defer func() {
		for _, d := range devs {
			_ = d.client.Disconnect(&paho.Disconnect{})
		}
	}()

	// Memory sampler: heap every 250 ms.
	var heaps []float64
	var hmu sync.Mutex
	sampleStop := make(chan struct{})
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-sampleStop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				hmu.Lock()
				heaps = append(heaps, float64(ms.HeapAlloc)/(1<<20))
				hmu.Unlock()
			}
		}
	}()

	var sent, pubErrs atomic.Uint64
	interval := time.Duration(float64(time.Second) * float64(o.devices) / o.rate)
	start := time.Now()
	if o.presign {
		// Plan the start after the signing: estimate it from a sample.
		t0 := time.Now()
		for i := range 64 {
			if _, err := devs[0].signReading(uint64(i), t0); err != nil {
				return res, err
			}
		}
		per := time.Since(t0) / 64
		total := time.Duration(o.rate*o.duration.Seconds()) * per / time.Duration(runtime.GOMAXPROCS(0))
		start = time.Now().Add(total*2 + time.Second)
		if err := presign(devs, start, interval, o.duration); err != nil {
			return res, err
		}
		res.Presigned = true
		runtime.GC()
		if d := time.Until(start); d > 0 {
			time.Sleep(d)
		}
	}
	end := start.Add(o.duration)
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := make(chan struct{}, 32)
			var inner sync.WaitGroup
			defer inner.Wait()
			next := start.Add(interval * time.Duration(i) / time.Duration(len(devs)))
			for {
				now := time.Now()
				if now.After(end) || ctx.Err() != nil {
					return
				}
				if next.After(now) {
					time.Sleep(next.Sub(now))
				}
				next = next.Add(interval)
				seq := d.seq.Add(1)
				var env []byte
				if d.pre != nil {
					if seq > uint64(len(d.pre)) {
						return
					}
					env, d.pre[seq-1] = d.pre[seq-1], nil
				} else {
					var err error
					if env, err = d.signReading(seq, time.Now()); err != nil {
						pubErrs.Add(1)
						continue
					}
				}
				sem <- struct{}{}
				inner.Add(1)
				go func() {
					defer inner.Done()
					defer func() { <-sem }()
					pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					if _, err := d.client.Publish(pctx, &paho.Publish{QoS: 1, Topic: d.topic, Payload: env}); err != nil {
						pubErrs.Add(1)
						return
					}
					sent.Add(1)
				}()
			}
		}()
	}
	wg.Wait()
	pubEnd := time.Now()
	drainEnd := pubEnd.Add(o.drain)
	for stored.Load() < sent.Load() && time.Now().Before(drainEnd) {
		time.Sleep(20 * time.Millisecond)
	}
	close(sampleStop)
	<-sampleDone

	// The rate is over the time until the last commit: readings stored
	// while draining a backlog count against the time they took.
	measured := pubEnd
	if lc := time.Unix(0, lastCommit.Load()); lc.After(measured) {
		measured = lc
	}
	res.Seconds = measured.Sub(start).Seconds()
	res.Sent = sent.Load()
	res.Stored = stored.Load()
	res.Rate = float64(res.Stored) / res.Seconds
	res.P50ms = float64(hist.quantile(0.50)) / 1e6
	res.P99ms = float64(hist.quantile(0.99)) / 1e6
	res.Maxms = float64(hist.max) / 1e6
	res.Duplicates = dups.Load()
	res.Lost = int64(res.Sent) - int64(res.Stored)
	res.PublishErrs = pubErrs.Load()
	for _, w := range workers {
		st := w.Stats()
		res.Rejected += st.Rejected
		for k, v := range st.RejectedBy {
			if res.RejectedBy == nil {
				res.RejectedBy = map[string]uint64{}
			}
			res.RejectedBy[k] += v
		}
	}
	hmu.Lock()
	if n := len(heaps); n >= 4 {
		res.HeapStartMiB = mean(heaps[:n/4])
		res.HeapEndMiB = mean(heaps[n-n/4:])
		res.HeapPeakMiB = slices.Max(heaps)
	}
	hmu.Unlock()
	res.PeakRSSMiB = peakRSSMiB()
	return res, nil
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// peakRSSMiB reads VmHWM from /proc/self/status (Linux); 0 elsewhere.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}
