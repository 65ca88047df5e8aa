package enroll

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

// Paths served by [Server].
const (
	EnrollPath   = "/v1/enroll"
	ReenrollPath = "/v1/reenroll"
)

// Defaults and limits of [ServerConfig].
const (
	DefaultMaxBodyBytes   = 16 << 10
	DefaultRatePerMinute  = 10
	DefaultMaxSources     = 10000
	DefaultRequestTimeout = 15 * time.Second
)

// Registry is what the server needs of the device registry; every
// provisioning.Registry implementation satisfies it.
type Registry interface {
	provisioning.TokenLedger
	provisioning.RevocationChecker
	Lookup(ctx context.Context, device iomt.DeviceID) (provisioning.Device, error)
	Activate(ctx context.Context, e provisioning.Enrollment) error
}

// ServerConfig configures a [Server]. CA, Tokens and Registry are required;
// the zero value of every other field has the documented default.
type ServerConfig struct {
	// CA issues the device certificates.
	CA *provisioning.CA
	// Tokens verifies enrolment tokens.
	Tokens *provisioning.TokenVerifier
	// Registry records enrolments and consumed tokens.
	Registry Registry
	// Logger receives one record per refused or failed request (device
	// UUID, reason; never tokens, CSRs or patient IDs). Nil discards.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RatePerMinute is the number of requests each source may make per
	// minute (also its burst); zero means DefaultRatePerMinute.
	RatePerMinute int
	// MaxSources bounds the rate limiter's table; zero means
	// DefaultMaxSources. When it is full of active sources, new sources
	// are refused.
	MaxSources int
	// Source names a request's source for rate limiting; nil means the IP
	// address of RemoteAddr. Behind a proxy, derive it from a header the
	// proxy sets (never from one a client can).
	Source func(*http.Request) string
	// RequestTimeout bounds the registry work of one request; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Server is the enrolment service, an http.Handler. Serve it over TLS with
// a configuration from provisioning.NewServerTLSConfig with
// OptionalClientCert set, so that one port serves first enrolment (token)
// and re-enrolment (current certificate).
//
// POST /v1/enroll takes {"token": JWT, "csr": base64 DER} and answers
// {"certificate_chain": PEM}: the token must verify, name the CSR's device,
// not have been used, and the device must be registered and not revoked.
//
// POST /v1/reenroll takes {"csr": base64 DER} over a connection
// authenticated with the device's current certificate; the CSR must name
// the same device. The new certificate replaces the old one.
//
// Errors answer {"error": code} with the codes of [Error]. A Server is safe
// for concurrent use.
type Server struct {
	cfg ServerConfig
	lim *limiter
	mux *http.ServeMux
}

// NewServer validates cfg and returns a server using a copy of it.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.CA == nil || cfg.Tokens == nil || cfg.Registry == nil {
		return nil, errors.New("enroll: CA, Tokens and Registry are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RatePerMinute <= 0 {
		cfg.RatePerMinute = DefaultRatePerMinute
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.Source == nil {
		cfg.Source = remoteIP
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, lim: newLimiter(cfg.RatePerMinute, cfg.MaxSources, cfg.Now), mux: http.NewServeMux()}
	s.mux.HandleFunc("POST "+EnrollPath, s.enroll)
	s.mux.HandleFunc("POST "+ReenrollPath, s.reenroll)
	return s, nil
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.lim.allow(s.cfg.Source(r)) {
		w.Header().Set("Retry-After", "60")
		writeError(w, CodeRateLimited)
		return
	}
	s.mux.ServeHTTP(w, r)
}

type enrollRequest struct {
	Token string `json:"token,omitempty"`
	CSR   string `json:"csr"`
}

type enrollResponse struct {
	Chain string `json:"certificate_chain"`
}

// readRequest decodes a bounded, strict JSON body.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (enrollRequest, []byte, string) {
	var req enrollRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, nil, CodeTooLarge
		}
		return req, nil, CodeBadRequest
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return req, nil, CodeBadRequest
	}
	csr, err := base64.StdEncoding.DecodeString(req.CSR)
	if err != nil || len(csr) == 0 {
		return req, nil, CodeBadRequest
	}
	if len(csr) > provisioning.MaxCSRSize {
		return req, nil, CodeTooLarge
	}
	return req, csr, ""
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	req, csrDER, code := s.readRequest(w, r)
	if code != "" {
		s.refuse(w, code, iomt.DeviceID{}, "request")
		return
	}
	_, device, err := provisioning.ParseCSR(csrDER)
	if err != nil {
		s.refuse(w, codeFor(err), device, "csr")
		return
	}
	claims, err := s.cfg.Tokens.Verify(req.Token, device)
	if err != nil {
		s.refuse(w, codeFor(err), device, "token")
		return
	}
	if err := s.checkEnrollable(ctx, device); err != nil {
		s.refuse(w, codeFor(err), device, "registry")
		return
	}
	if err := s.cfg.Registry.ConsumeToken(ctx, claims.ID, claims.Expires); err != nil {
		s.refuse(w, codeFor(err), device, "token ledger")
		return
	}
	s.issue(ctx, w, csrDER, device, claims.Patient)
}

// checkEnrollable requires a registered, not revoked device.
func (s *Server) checkEnrollable(ctx context.Context, device iomt.DeviceID) error {
	d, err := s.cfg.Registry.Lookup(ctx, device)
	if err != nil {
		return err
	}
	if d.Status != provisioning.StatusProvisioned && d.Status != provisioning.StatusActive {
		return provisioning.ErrRevoked
	}
	return nil
}

func (s *Server) reenroll(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		s.refuse(w, CodeCertificateRequired, iomt.DeviceID{}, "client certificate")
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	current, err := provisioning.DeviceIDFromCertificate(leaf)
	if err != nil {
		s.refuse(w, CodeCertificateRequired, iomt.DeviceID{}, "client certificate")
		return
	}
	if err := s.cfg.Registry.CheckCertificate(ctx, current, leaf.SerialNumber); err != nil {
		s.refuse(w, codeFor(err), current, "client certificate")
		return
	}
	_, csrDER, code := s.readRequest(w, r)
	if code != "" {
		s.refuse(w, code, current, "request")
		return
	}
	if _, device, err := provisioning.ParseCSR(csrDER); err != nil {
		s.refuse(w, codeFor(err), current, "csr")
		return
	} else if device != current {
		s.refuse(w, CodeDeviceMismatch, current, "csr")
		return
	}
	s.issue(ctx, w, csrDER, current, iomt.PatientID{})
}

func (s *Server) issue(ctx context.Context, w http.ResponseWriter, csrDER []byte, device iomt.DeviceID, patient iomt.PatientID) {
	chain, err := s.cfg.CA.Issue(csrDER, device)
	if err != nil {
		s.refuse(w, codeFor(err), device, "issue")
		return
	}
	leaf := chain[0]
	if err := s.cfg.Registry.Activate(ctx, provisioning.Enrollment{Device: device, Patient: patient,
		PublicKey: leaf.PublicKey, CertSerial: leaf.SerialNumber, CertNotAfter: leaf.NotAfter}); err != nil {
		s.refuse(w, codeFor(err), device, "activate")
		return
	}
	s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "enroll: certificate issued",
		slog.String("device", device.String()), slog.Time("not_after", leaf.NotAfter))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(enrollResponse{Chain: string(provisioning.MarshalCertificatesPEM(chain))})
}

func (s *Server) refuse(w http.ResponseWriter, code string, device iomt.DeviceID, stage string) {
	attrs := []slog.Attr{slog.String("code", code), slog.String("stage", stage)}
	if !device.IsZero() {
		attrs = append(attrs, slog.String("device", device.String()))
	}
	level := slog.LevelWarn
	if code == CodeInternal {
		level = slog.LevelError
	}
	s.cfg.Logger.LogAttrs(context.Background(), level, "enroll: request refused", attrs...)
	writeError(w, code)
}

func writeError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(statusOf(code))
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
