// Package httpapi serves a [phisilo.Silo] over HTTP: patient registration
// for the phone app, record read/update/delete, sharing grants,
// break-glass, the de-identified view, accounts and audit queries.
//
// # Authentication
//
// POST /v1/sessions exchanges a user ID and password for a session token,
// sent back as "Authorization: Bearer TOKEN" on every other call. Sessions
// end after the silo's idle timeout (automatic logoff) or absolute
// timeout, and on DELETE /v1/sessions/current. Tokens are never accepted
// from cookies or URLs, so the API is not exposed to CSRF.
//
// # Errors
//
// Errors are JSON: {"error":{"code":"denied","message":"access denied"}}.
// Messages are fixed per code and name at most a field, never a value, so
// a response never echoes PHI. Status codes: 400 invalid, 401
// unauthenticated, 403 denied, 404 not found, 409 exists, 413 too large,
// 415 not JSON, 429 too many failed logins (with Retry-After, in seconds),
// 500 anything else.
//
// # Routes
//
//	POST   /v1/patients                      register (self, or a clinician's session); → {patient_id, enrolment_token}
//	GET    /v1/patients?after=ID&limit=N     the patients the caller may open → {patients: [{patient, access, grant_id, sections, expires}], next}
//	GET    /v1/patients/{id}                 read (as the policy allows)
//	PUT    /v1/patients/{id}                 replace the record (the patient)
//	DELETE /v1/patients/{id}                 crypto-shred (the patient)
//	GET    /v1/patients/{id}/deidentified    Safe Harbor view (support)
//	POST   /v1/patients/{id}/break-glass     {reason} (clinician, purpose ETREAT)
//	GET    /v1/patients/{id}/grants          list grants (the patient)
//	POST   /v1/patients/{id}/grants          create a grant (the patient)
//	DELETE /v1/patients/{id}/grants/{grant}  revoke (the patient)
//	GET    /v1/audit?after=N&limit=N&patient=ID
//	POST   /v1/accounts                      create an account (admin)
//	GET    /v1/accounts?after=USER&limit=N   list accounts (admin)
//	DELETE /v1/accounts/{user}               delete an account (admin)
//	PUT    /v1/accounts/{user}/password      {old_password, new_password} (the user, or an admin)
//	POST   /v1/sessions                      log in
//	DELETE /v1/sessions/current              log out
//
// Serve it only over TLS ([TLSConfig]); [NewServer] sets timeouts.
package httpapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

// EnrolmentHook issues the single-use enrolment (device claim) token the
// phone app passes to the device with the patient UUID. The provisioning
// package implements it; nil means registration returns no token.
type EnrolmentHook interface {
	EnrolmentToken(ctx context.Context, patient phisilo.PatientID) (string, error)
}

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 128 << 10

// Config configures New. Only Silo is required.
type Config struct {
	Silo *phisilo.Silo
	// Enrolment, if set, is called after each successful registration.
	Enrolment EnrolmentHook
	// MaxBodyBytes bounds request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger gets request failures (never bodies); nil discards.
	Logger *slog.Logger
}

// Handler is the API's http.Handler.
type Handler struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
}

// New returns the API handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Silo == nil {
		return nil, &phisilo.FieldError{Field: "httpapi.Config.Silo", Reason: "required"}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	m := h.mux
	m.HandleFunc("POST /v1/patients", h.register)
	m.HandleFunc("GET /v1/patients", h.authed(h.patients))
	m.HandleFunc("GET /v1/patients/{id}", h.authed(h.read))
	m.HandleFunc("PUT /v1/patients/{id}", h.authed(h.update))
	m.HandleFunc("DELETE /v1/patients/{id}", h.authed(h.delete))
	m.HandleFunc("GET /v1/patients/{id}/deidentified", h.authed(h.deidentified))
	m.HandleFunc("POST /v1/patients/{id}/break-glass", h.authed(h.breakGlass))
	m.HandleFunc("GET /v1/patients/{id}/grants", h.authed(h.listGrants))
	m.HandleFunc("POST /v1/patients/{id}/grants", h.authed(h.createGrant))
	m.HandleFunc("DELETE /v1/patients/{id}/grants/{grant}", h.authed(h.revokeGrant))
	m.HandleFunc("GET /v1/audit", h.authed(h.audit))
	m.HandleFunc("POST /v1/accounts", h.authed(h.createAccount))
	m.HandleFunc("GET /v1/accounts", h.authed(h.listAccounts))
	m.HandleFunc("DELETE /v1/accounts/{user}", h.authed(h.deleteAccount))
	m.HandleFunc("PUT /v1/accounts/{user}/password", h.authed(h.changePassword))
	m.HandleFunc("POST /v1/sessions", h.login)
	m.HandleFunc("DELETE /v1/sessions/current", h.logout)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	h.mux.ServeHTTP(w, r)
}

// TLSConfig returns a server TLS configuration: TLS 1.2 minimum, AEAD
// suites with forward secrecy for 1.2, and the given certificates.
func TLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: certs,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
		},
	}
}

// NewServer returns an http.Server for h on addr with TLSConfig(certs...)
// and timeouts bounding slow clients. Start it with ListenAndServeTLS("", "").
func NewServer(addr string, h http.Handler, certs ...tls.Certificate) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h, TLSConfig: TLSConfig(certs...),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
	}
}

// errorBody is the JSON error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var b errorBody
	status := http.StatusInternalServerError
	b.Error.Code, b.Error.Message = "internal", "internal error"
	var fe *phisilo.FieldError
	var le *phisilo.LimitError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.As(err, &le), errors.Is(err, phisilo.ErrTooLarge):
		status, b.Error.Code, b.Error.Message = http.StatusRequestEntityTooLarge, "too_large", "request exceeds a size limit"
		if le != nil {
			b.Error.Field = le.Limit
		}
	case errors.Is(err, errMediaType):
		status, b.Error.Code, b.Error.Message = http.StatusUnsupportedMediaType, "unsupported_media_type", "content type must be application/json"
	case errors.Is(err, phisilo.ErrThrottled):
		status, b.Error.Code, b.Error.Message = http.StatusTooManyRequests, "throttled", "too many failed attempts; retry later"
		var te *phisilo.ThrottledError
		if errors.As(err, &te) {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((te.RetryAfter+time.Second-1)/time.Second), 10))
		}
	case errors.Is(err, phisilo.ErrUnauthenticated):
		status, b.Error.Code, b.Error.Message = http.StatusUnauthorized, "unauthenticated", "authentication required"
		w.Header().Set("WWW-Authenticate", `Bearer realm="phisilo"`)
	case errors.Is(err, phisilo.ErrDenied):
		status, b.Error.Code, b.Error.Message = http.StatusForbidden, "denied", "access denied"
	case errors.Is(err, phisilo.ErrNotFound):
		status, b.Error.Code, b.Error.Message = http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, phisilo.ErrExists):
		status, b.Error.Code, b.Error.Message = http.StatusConflict, "exists", "already exists"
	case errors.As(err, &fe):
		status, b.Error.Code, b.Error.Message, b.Error.Field = http.StatusBadRequest, "invalid", "invalid field", fe.Field
	case errors.Is(err, phisilo.ErrInvalid), errors.Is(err, errMalformed):
		status, b.Error.Code, b.Error.Message = http.StatusBadRequest, "invalid", "malformed request"
	default:
		h.log.LogAttrs(r.Context(), slog.LevelError, "httpapi: request failed", slog.String("method", r.Method), slog.String("route", r.Pattern), slog.String("error", err.Error()))
	}
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var (
	errMalformed = errors.New("httpapi: malformed JSON")
	errMediaType = errors.New("httpapi: unsupported media type")
)

// decode reads exactly one JSON object with known fields, within the limit.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errMediaType
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errMalformed
	}
	if _, err := d.Token(); err != io.EOF {
		return errMalformed
	}
	return nil
}

func source(r *http.Request) string { return r.RemoteAddr }

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

type authedFunc func(w http.ResponseWriter, r *http.Request, p phisilo.Principal)

func (h *Handler) authed(fn authedFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := h.cfg.Silo.Session(r.Context(), bearer(r), source(r))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		fn(w, r, p)
	}
}

func pathPatient(r *http.Request) (phisilo.PatientID, error) {
	return phisilo.ParsePatientID(r.PathValue("id"))
}

type registerRequest struct {
	Record   phisilo.Record `json:"record"`
	UserID   string         `json:"user_id,omitempty"`
	Password string         `json:"password,omitempty"`
}

type registerResponse struct {
	PatientID      phisilo.PatientID `json:"patient_id"`
	EnrolmentToken string            `json:"enrolment_token,omitempty"`
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	p := phisilo.Principal{UserID: "self-registration", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Source: source(r)}
	if tok := bearer(r); tok != "" {
		var err error
		if p, err = h.cfg.Silo.Session(r.Context(), tok, source(r)); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	var req registerRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	var login *phisilo.Credentials
	if req.UserID != "" || req.Password != "" {
		login = &phisilo.Credentials{UserID: req.UserID, Password: req.Password}
	}
	id, err := h.cfg.Silo.Register(r.Context(), p, req.Record, login)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := registerResponse{PatientID: id}
	if h.cfg.Enrolment != nil {
		if resp.EnrolmentToken, err = h.cfg.Enrolment.EnrolmentToken(r.Context(), id); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (h *Handler) read(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.cfg.Silo.Get(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var rec phisilo.Record
	if err := h.decode(w, r, &rec); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.cfg.Silo.Update(r.Context(), p, id, rec); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.cfg.Silo.Delete(r.Context(), p, id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) deidentified(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.cfg.Silo.Deidentified(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) breakGlass(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.cfg.Silo.BreakGlass(r.Context(), p, id, req.Reason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (h *Handler) listGrants(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	gs, err := h.cfg.Silo.Grants(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if gs == nil {
		gs = []phisilo.Grant{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": gs})
}

type grantRequest struct {
	Grantee         string            `json:"grantee"`
	GranteeRole     phisilo.Role      `json:"grantee_role"`
	Sections        []phisilo.Section `json:"sections"`
	NotBefore       time.Time         `json:"not_before,omitzero"`
	DurationSeconds int64             `json:"duration_seconds"`
}

func (h *Handler) createGrant(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req grantRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.DurationSeconds <= 0 || req.DurationSeconds > int64(phisilo.MaxGrantDuration/time.Second) {
		h.fail(w, r, &phisilo.FieldError{Field: "duration_seconds", Reason: "out of range"})
		return
	}
	g, err := h.cfg.Silo.CreateGrant(r.Context(), p, id, phisilo.GrantRequest{Grantee: req.Grantee, GranteeRole: req.GranteeRole,
		Sections: req.Sections, NotBefore: req.NotBefore, Duration: time.Duration(req.DurationSeconds) * time.Second})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, g)
}

func (h *Handler) revokeGrant(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	id, err := pathPatient(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.cfg.Silo.RevokeGrant(r.Context(), p, id, r.PathValue("grant")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// patients lists what the caller may open ([phisilo.Silo.Patients]): own
// record, active grants, or (support) the de-identified population.
// "next" is the after= value of the following page, absent on the last.
func (h *Handler) patients(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	q := phisilo.PatientQuery{}
	v := r.URL.Query()
	if s := v.Get("after"); s != "" {
		id, err := phisilo.ParsePatientID(s)
		if err != nil {
			h.fail(w, r, &phisilo.FieldError{Field: "after", Reason: "not a patient ID"})
			return
		}
		q.After = id
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > phisilo.MaxPatientQuery {
			h.fail(w, r, &phisilo.FieldError{Field: "limit", Reason: "out of range"})
			return
		}
		q.Limit = n
	}
	refs, err := h.cfg.Silo.Patients(r.Context(), p, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		Patients []phisilo.PatientRef `json:"patients"`
		Next     string               `json:"next,omitempty"`
	}{Patients: refs}
	if out.Patients == nil {
		out.Patients = []phisilo.PatientRef{}
	}
	limit := q.Limit
	if limit == 0 {
		limit = 100
	}
	if len(refs) == limit {
		out.Next = refs[len(refs)-1].Patient.String()
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	q := phisilo.AuditQuery{}
	v := r.URL.Query()
	if s := v.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			h.fail(w, r, &phisilo.FieldError{Field: "after", Reason: "not a sequence number"})
			return
		}
		q.After = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > phisilo.MaxAuditQuery {
			h.fail(w, r, &phisilo.FieldError{Field: "limit", Reason: "out of range"})
			return
		}
		q.Limit = n
	}
	if s := v.Get("patient"); s != "" {
		id, err := phisilo.ParsePatientID(s)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		q.Patient = id
	}
	recs, err := h.cfg.Silo.AuditLog(r.Context(), p, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []phisilo.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": recs})
}

type accountRequest struct {
	UserID   string            `json:"user_id"`
	Role     phisilo.Role      `json:"role"`
	Patient  phisilo.PatientID `json:"patient,omitzero"`
	Password string            `json:"password"`
}

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	var req accountRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	err := h.cfg.Silo.CreateAccount(r.Context(), p, phisilo.NewAccount{UserID: req.UserID, Role: req.Role, Patient: req.Patient, Password: req.Password})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) listAccounts(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > phisilo.MaxAccountsPage {
			h.fail(w, r, &phisilo.FieldError{Field: "limit", Reason: "out of range"})
			return
		}
		limit = n
	}
	as, err := h.cfg.Silo.Accounts(r.Context(), p, r.URL.Query().Get("after"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if as == nil {
		as = []phisilo.AccountInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": as})
}

func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	if err := h.cfg.Silo.DeleteAccount(r.Context(), p, r.PathValue("user")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, p phisilo.Principal) {
	var req struct {
		OldPassword string `json:"old_password"`
		NewPassword string `json:"new_password"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.cfg.Silo.ChangePassword(r.Context(), p, r.PathValue("user"), req.OldPassword, req.NewPassword); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type loginRequest struct {
	UserID   string          `json:"user_id"`
	Password string          `json:"password"`
	Purpose  phisilo.Purpose `json:"purpose"`
}

type loginResponse struct {
	Token   string            `json:"token"`
	UserID  string            `json:"user_id"`
	Role    phisilo.Role      `json:"role"`
	Patient phisilo.PatientID `json:"patient,omitzero"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	tok, p, err := h.cfg.Silo.Login(r.Context(), phisilo.Credentials{UserID: req.UserID, Password: req.Password}, req.Purpose, source(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, loginResponse{Token: tok, UserID: p.UserID, Role: p.Role, Patient: p.Patient})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.cfg.Silo.Logout(r.Context(), bearer(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
