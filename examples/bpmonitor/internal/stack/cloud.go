// Package stack wires the SDK's packages into the example's cloud: PKI,
// device registry, PHI silo with its HTTP API, enrolment, the embedded
// broker, ingest and readings store, the OTA release server, and the
// adapters the admin portal reads through. The all-in-one mode and the
// split "cloud" and "portal" modes of examples/bpmonitor use the same code.
package stack

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/broker"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/monitor"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/phisilo/httpapi"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
	regpg "github.com/openiomt/sdk/provisioning/registry/postgres"
	regsqlite "github.com/openiomt/sdk/provisioning/registry/sqlite"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/store"
)

// CloudConfig configures [StartCloud].
type CloudConfig struct {
	// StateDir holds everything the cloud keeps on disk (created 0700).
	StateDir string
	// BrokerListen is the embedded broker's address ("127.0.0.1:0" if
	// empty). Ignored when BrokerURL is set.
	BrokerListen string
	// BrokerURL, when set, is an external MQTT v5 broker with mutual TLS
	// (e.g. Mosquitto with require_certificate true trusting this cloud's
	// CAs) and no broker is embedded.
	BrokerURL string
	// APIListen is the HTTPS API address (registration, pairing,
	// enrolment, OTA); "127.0.0.1:0" if empty.
	APIListen string
	// Postgres, when set, holds the PHI silo, registry and readings.
	Postgres string
	// IdleTimeout is the portal session idle timeout.
	IdleTimeout time.Duration
	// PasswordIterations for account passwords (zero: phisilo's default).
	PasswordIterations int
	// MaxReadingAge is how old a reading may be when it arrives (offline
	// buffering, cuff memory); zero means 30 days.
	MaxReadingAge time.Duration
	// PortalOnly opens the stores (silo, registry, readings) without
	// starting the broker, ingest or API: the split "portal" mode.
	PortalOnly bool
	Story      *story.Printer
	Logger     *slog.Logger
}

// Cloud is the running cloud side.
type Cloud struct {
	cfg      CloudConfig
	PKI      *PKI
	Registry Registry
	PHI      *PHI
	Store    store.Store
	Broker   *broker.Broker // nil with an external broker
	// BrokerURL and APIURL are what devices and phones are given.
	BrokerURL, APIURL string
	Ingest            *ingest.Ingest
	Accounts          []DemoAccount
	// Releases is the OTA release side (nil in PortalOnly mode).
	Releases *Releases

	regCloser  io.Closer
	api        *http.Server
	apiDone    chan struct{}
	tokens     *provisioning.TokenIssuer
	sealer     *provisioning.PairingSealer
	campaigns  portal.Campaigns
	sbom       portal.SBOMSource
	firmwareMu sync.Mutex
	firmware   map[iomt.DeviceID]string
	closeOnce  sync.Once
	closeErr   error
	logger     *slog.Logger
}

// StartCloud starts the cloud side. Close stops it.
func StartCloud(ctx context.Context, cfg CloudConfig) (c *Cloud, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxReadingAge == 0 {
		cfg.MaxReadingAge = 30 * 24 * time.Hour
	}
	if cfg.APIListen == "" {
		cfg.APIListen = "127.0.0.1:0"
	}
	if cfg.BrokerListen == "" {
		cfg.BrokerListen = "127.0.0.1:0"
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	c = &Cloud{cfg: cfg, logger: cfg.Logger}
	defer func() {
		if err != nil {
			_ = c.Close(context.Background())
		}
	}()
	st := cfg.Story
	if c.PKI, err = LoadOrCreatePKI(filepath.Join(cfg.StateDir, "pki")); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	// Device registry.
	if cfg.Postgres != "" {
		r, err := regpg.Open(ctx, regpg.Config{DSN: cfg.Postgres})
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		c.Registry, c.regCloser = r, r
	} else {
		r, err := regsqlite.Open(ctx, regsqlite.Config{Path: filepath.Join(cfg.StateDir, "registry.db")})
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		c.Registry, c.regCloser = r, r
	}
	// PHI silo and demo staff.
	if c.PHI, err = OpenPHI(ctx, PHIConfig{Dir: filepath.Join(cfg.StateDir, "phi"), Postgres: cfg.Postgres,
		IdleTimeout: cfg.IdleTimeout, PasswordIterations: cfg.PasswordIterations, Logger: cfg.Logger}); err != nil {
		return nil, fmt.Errorf("phi silo: %w", err)
	}
	if c.Accounts, err = SeedStaff(ctx, c.PHI, cfg.StateDir, nil); err != nil {
		return nil, err
	}
	// Readings store: no PHI columns.
	if cfg.Postgres != "" {
		c.Store, err = store.OpenPostgres(ctx, cfg.Postgres)
	} else {
		c.Store, err = store.OpenSQLite(ctx, filepath.Join(cfg.StateDir, "readings.db"))
	}
	if err != nil {
		return nil, fmt.Errorf("readings store: %w", err)
	}
	c.sbom = &firmwareSBOM{}
	if cfg.PortalOnly {
		return c, nil
	}
	// Broker.
	serverCert, err := c.PKI.ServerCertificate()
	if err != nil {
		return nil, err
	}
	if cfg.BrokerURL != "" {
		c.BrokerURL = cfg.BrokerURL
		if err := c.PKI.WriteBrokerTLS(serverCert); err != nil {
			return nil, err
		}
	} else {
		brokerTLS, err := c.PKI.BrokerTLS(serverCert, "ingest")
		if err != nil {
			return nil, err
		}
		c.Broker, err = broker.Start(broker.Config{
			Addr:     cfg.BrokerListen,
			TLS:      brokerTLS,
			Identify: c.PKI.Identify,
			Admit:    c.admit,
			Logger:   cfg.Logger,
			OnRefused: func(r broker.Refusal) {
				st.Tell("broker", "refused %s by %s: %s", r.Action, r.ClientID, r.Reason)
			},
		})
		if err != nil {
			return nil, err
		}
		c.BrokerURL = c.Broker.URL().String()
		st.Tell("broker", "embedded MQTT v5 broker with mutual TLS on %s", c.Broker.Addr())
	}
	// Ingest: verify with the registry's keys (the registry is the
	// telemetry.KeyResolver, so revoking a device stops its telemetry at
	// once), store, ack after commit.
	v, err := c.TelemetryVerifier()
	if err != nil {
		return nil, err
	}
	svcCert, err := c.PKI.ServiceCertificate("ingest")
	if err != nil {
		return nil, err
	}
	c.Ingest, err = ingest.New(ingest.Config{
		ServerURL: c.BrokerURL, ClientID: "bpmonitor-ingest-1",
		TLS:      &tls.Config{Certificates: []tls.Certificate{svcCert}, RootCAs: c.PKI.ServerRoots, MinVersion: tls.VersionTLS12},
		Verifier: ingest.FromTelemetry(v), Store: c.Store, Rule: telemetry.Rule, Logger: cfg.Logger,
		OnCommit: func(rs []store.Reading, res store.InsertResult) { tellStored(st, rs) },
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	// HTTPS API: registration (phisilo), pairing, enrolment (provisioning), OTA.
	if c.tokens, err = provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: c.PKI.ProvisioningKey}); err != nil {
		return nil, err
	}
	if c.sealer, err = provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: c.PKI.ProvisioningKey}); err != nil {
		return nil, err
	}
	tv, err := provisioning.NewTokenVerifier(provisioning.TokenVerifierConfig{Key: c.PKI.ProvisioningKey.Public()})
	if err != nil {
		return nil, err
	}
	enr, err := enroll.NewServer(enroll.ServerConfig{CA: c.PKI.DeviceCA, Tokens: tv, Registry: c.Registry, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	reg, err := httpapi.New(httpapi.Config{Silo: c.PHI.Silo, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(enroll.EnrollPath, enr)
	mux.Handle(enroll.ReenrollPath, enr)
	mux.Handle("GET /ota/", otaHandler{c})
	mux.Handle("/v1/", reg)
	apiTLS, err := provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: serverCert, ClientCAs: c.PKI.DeviceCAs,
		Revocation: c.Registry, OptionalClientCert: true})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		return nil, err
	}
	c.api = &http.Server{Handler: mux, TLSConfig: apiTLS, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	c.APIURL = "https://" + ln.Addr().String()
	// Pairing: the patient's silo session authenticates the phone; the
	// payload names this API for enrolment.
	pairing, err := enroll.NewPairingHandler(enroll.PairingHandlerConfig{Registry: c.Registry, Tokens: c.tokens,
		Sealer: c.sealer, Authenticate: c.patientSession, BrokerURL: c.BrokerURL, EnrollmentURL: c.APIURL,
		Logger: cfg.Logger, OnIssued: func(_ context.Context, dev iomt.DeviceID) {
			st.Tell("cloud", "issued a single-use enrolment token and sealed a pairing payload for monitor %s", story.Short(dev))
		}})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	mux.Handle("POST "+enroll.PairingPath, pairing)
	if c.Releases, err = OpenReleases(filepath.Join(cfg.StateDir, "ota"), c.APIURL, st); err != nil {
		_ = ln.Close()
		return nil, err
	}
	c.campaigns = c.Releases
	if c.Broker != nil {
		if err := c.Broker.Tap("iomt/v1/+/ota/status", c.Releases.HandleStatus); err != nil {
			_ = ln.Close()
			return nil, err
		}
	}
	c.apiDone = make(chan struct{})
	go func() {
		defer close(c.apiDone)
		_ = c.api.ServeTLS(ln, "", "")
	}()
	st.Tell("cloud", "registration, pairing and enrolment API on %s", c.APIURL)
	if err := c.writeEndpoints(); err != nil {
		return nil, err
	}
	return c, nil
}

// TelemetryVerifier returns the verifier ingest uses: keys resolved from
// the device registry on every envelope (no cache), so a revoked device's
// telemetry is refused from the next envelope on.
func (c *Cloud) TelemetryVerifier() (*telemetry.Verifier, error) {
	return telemetry.NewVerifier(telemetry.VerifierConfig{Keys: c.Registry, MaxAge: c.cfg.MaxReadingAge})
}

// tellStored tells one story line per device of a committed batch.
func tellStored(st *story.Printer, rs []store.Reading) {
	type span struct {
		n        int
		lo, hi   uint64
		from, to time.Time
	}
	by := map[iomt.DeviceID]*span{}
	var order []iomt.DeviceID
	for _, r := range rs {
		id := r.DeviceID
		s, ok := by[id]
		if !ok {
			s = &span{lo: r.Seq, hi: r.Seq, from: r.Time, to: r.Time}
			by[id] = s
			order = append(order, id)
		}
		s.n++
		s.lo, s.hi = min(s.lo, r.Seq), max(s.hi, r.Seq)
		if r.Time.Before(s.from) {
			s.from = r.Time
		}
		if r.Time.After(s.to) {
			s.to = r.Time
		}
	}
	for _, id := range order {
		s := by[id]
		if s.n == 1 {
			st.Tell("ingest", "verified and stored reading seq %d of monitor %s, then acknowledged", s.lo, story.Short(id))
			continue
		}
		st.Tell("ingest", "verified and stored %d readings (measured %s – %s) of monitor %s, then acknowledged",
			s.n, s.from.Local().Format("Jan 2 15:04"), s.to.Local().Format("Jan 2 15:04"), story.Short(id))
	}
}

// Endpoints is what the cloud writes to StateDir/endpoints.json for
// processes of the split mode that share the state directory.
type Endpoints struct {
	APIURL    string `json:"api_url"`
	BrokerURL string `json:"broker_url"`
}

func (c *Cloud) writeEndpoints() error {
	b, _ := json.Marshal(Endpoints{APIURL: c.APIURL, BrokerURL: c.BrokerURL})
	return provisioning.WriteFileAtomic(filepath.Join(c.cfg.StateDir, "endpoints.json"), b, 0o600)
}

// ReadEndpoints reads what a running cloud wrote to stateDir.
func ReadEndpoints(stateDir string) (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(filepath.Join(stateDir, "endpoints.json"))
	if err != nil {
		return e, fmt.Errorf("no running cloud found in %s (start \"bpmonitor cloud\" first): %w", stateDir, err)
	}
	return e, json.Unmarshal(b, &e)
}

// admit lets devices connect only while active in the registry.
func (c *Cloud) admit(id broker.Identity) error {
	if id.Service != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.Registry.Lookup(ctx, id.Device)
	if err != nil {
		return err
	}
	if d.Status != provisioning.StatusActive {
		return provisioning.ErrRevoked
	}
	return nil
}

// Close stops everything the cloud started.
func (c *Cloud) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		var errs []error
		if c.api != nil {
			errs = append(errs, c.api.Shutdown(ctx))
			<-c.apiDone
		}
		if c.Ingest != nil {
			errs = append(errs, c.Ingest.Close(ctx))
		}
		if c.Broker != nil {
			errs = append(errs, c.Broker.Close())
		}
		if c.Store != nil {
			errs = append(errs, c.Store.Close())
		}
		if c.PHI != nil {
			errs = append(errs, c.PHI.Close())
		}
		if c.regCloser != nil {
			errs = append(errs, c.regCloser.Close())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// Manufacture makes n new monitors in StateDir/devices (the factory
// station): keys and identity on disk, registered with their pairing keys.
func (c *Cloud) Manufacture(ctx context.Context, n int) ([]string, error) {
	var dirs []string
	for i := 0; i < n; i++ {
		tmp := filepath.Join(c.cfg.StateDir, "devices", fmt.Sprintf(".new-%d", time.Now().UnixNano()))
		ident, pub, err := monitor.Manufacture(ctx, tmp)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(c.cfg.StateDir, "devices", ident.Device.String())
		if c.Releases != nil {
			if err := monitor.InstallFactoryTrust(ctx, tmp, c.Releases.SignedRoot); err != nil {
				return nil, err
			}
		}
		if err := os.Rename(tmp, dir); err != nil {
			return nil, err
		}
		if err := c.Registry.Register(ctx, ident.Device, pub); err != nil {
			return nil, err
		}
		c.cfg.Story.Tell("factory", "manufactured monitor %s (keys on the device, pairing key registered)", story.Short(ident.Device))
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// firmwareOf returns the firmware version a device last reported.
func (c *Cloud) firmwareOf(id iomt.DeviceID) string {
	if c.Releases == nil {
		return ""
	}
	return c.Releases.Firmware(id)
}

// otaHandler serves the release files; the Releases are created after the
// API listener, so the handler looks them up per request.
type otaHandler struct{ c *Cloud }

func (h otaHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.c.Releases == nil {
		http.NotFound(w, r)
		return
	}
	h.c.Releases.Handler().ServeHTTP(w, r)
}

// patientSession authenticates a pairing request by the patient's silo
// session (bearer token).
func (c *Cloud) patientSession(r *http.Request) (iomt.PatientID, error) {
	tok, ok := enroll.BearerToken(r)
	if !ok {
		return iomt.PatientID{}, enroll.ErrUnauthenticated
	}
	pr, err := c.PHI.Silo.Session(r.Context(), tok, r.RemoteAddr)
	if err != nil {
		return iomt.PatientID{}, err
	}
	return iomt.PatientID(pr.Patient), nil
}

// Registry is what the cloud needs of its device registry; the SDK's
// sqlite and postgres registries are all three: the registry, its fleet
// listing and the telemetry key resolver.
type Registry interface {
	provisioning.Registry
	provisioning.DeviceLister
	telemetry.KeyResolver
}

// allDevices walks the registry's listing to the end.
func (c *Cloud) allDevices(ctx context.Context, opts provisioning.ListOptions) ([]provisioning.Device, error) {
	var out []provisioning.Device
	for {
		page, err := c.Registry.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return out, nil
		}
		out = append(out, page...)
		opts.After = page[len(page)-1].ID
	}
}
