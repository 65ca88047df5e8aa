// Package portal is the example's admin portal: a server-rendered web
// application over the SDK's PHI silo, readings store, device registry, OTA
// campaigns, audit log and SBOM.
//
// # Design
//
// Pages are html/template with embedded CSS and one small script; there is
// no CDN and no client-side framework, so the portal works offline and its
// Content-Security-Policy allows only its own origin. Charts are inline SVG
// computed on the server.
//
// The portal holds no data and makes no access decisions about PHI: it asks
// the backends in [Config], which enforce access control and audit every
// call, with the user's [Session]. Role checks here only decide which
// navigation to show and refuse pages early.
//
// # Security
//
//   - Sessions: an HttpOnly, SameSite=Strict cookie holding the backend's
//     opaque token; Secure unless [Config.InsecureHTTP].
//   - Automatic logoff: the backend expires idle sessions; each page also
//     carries the idle timeout and logs itself off (POST /logout) when it
//     elapses without navigation, so an unattended screen does not keep
//     showing PHI.
//   - CSRF: cross-origin non-safe requests are refused
//     ([http.CrossOriginProtection]), and every form carries a token bound
//     to the session (HMAC of the session token under a per-process key).
//   - Headers: a strict Content-Security-Policy, no framing, no referrer,
//     no MIME sniffing, and Cache-Control: no-store on every page.
//   - Errors never echo input or PHI; form bodies are size-limited.
package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openiomt/sdk/iomt"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits on what a client can make the portal do.
const (
	// DefaultMaxFormBytes bounds a form body.
	DefaultMaxFormBytes = 16 << 10
	// MaxShareDays bounds a sharing grant's lifetime.
	MaxShareDays = 365
	// MaxAuditRows bounds the audit page.
	MaxAuditRows = 500
	// CookieName is the session cookie.
	CookieName = "iomt_session"
)

// Config configures [New]. Auth is required; every other backend may be nil,
// and its pages then say the feature is not available in this deployment.
// The Config must not change after New.
type Config struct {
	Auth      Auth
	Patients  Patients
	Readings  Readings
	FHIR      FHIRExporter
	Shares    Shares
	Fleet     Fleet
	Campaigns Campaigns
	Audit     AuditLog
	SBOM      SBOMSource

	// ChartDays is the default chart period in days; zero means 14.
	ChartDays int
	// Location is the time zone for display; nil means UTC.
	Location *time.Location
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for the CSRF key; nil means crypto/rand.
	Rand io.Reader
	// Logger records request failures (never form values). Nil discards.
	Logger *slog.Logger
	// MaxFormBytes bounds a form body; zero means DefaultMaxFormBytes.
	MaxFormBytes int64
	// InsecureHTTP drops the Secure attribute from the session cookie so the
	// portal works over plain HTTP. Anyone on the network path can then read
	// the session cookie and PHI: use it only on a loopback address.
	InsecureHTTP bool
	// Purposes are the purposes of use the login form offers; the first is
	// preselected. Empty omits the choice.
	Purposes []Purpose
	// LoginHint is shown on the login page (the example prints demo
	// accounts there). Empty shows nothing.
	LoginHint string
}

// Portal is the portal's http.Handler.
type Portal struct {
	cfg     Config
	key     []byte
	pages   map[string]*template.Template
	handler http.Handler
	static  http.Handler
}

// New validates cfg and builds the portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Auth == nil {
		return nil, errors.New("portal: Config.Auth is required")
	}
	if cfg.ChartDays <= 0 {
		cfg.ChartDays = 14
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFormBytes <= 0 {
		cfg.MaxFormBytes = DefaultMaxFormBytes
	}
	p := &Portal{cfg: cfg, key: make([]byte, 32), pages: map[string]*template.Template{}}
	if _, err := io.ReadFull(cfg.Rand, p.key); err != nil {
		return nil, fmt.Errorf("portal: CSRF key: %w", err)
	}
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(cfg.Location).Format("2006-01-02 15:04")
		},
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(cfg.Location).Format("2006-01-02")
		},
		"mmhg":  func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
		"flags": statusText,
		"short": func(s fmt.Stringer) string { v := s.String(); return v[:min(8, len(v))] },
		"active": func(s Share) bool {
			return s.Active(cfg.Now())
		},
	}
	pageFiles, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range pageFiles {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", name, err)
		}
		p.pages[name] = t
	}
	sub, _ := fs.Sub(staticFS, "static")
	p.static = http.StripPrefix("/static/", http.FileServer(http.FS(sub)))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/", p.serveStatic)
	mux.HandleFunc("GET /login", p.loginPage)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /logout", p.logout)
	mux.HandleFunc("GET /logged-off", p.loggedOff)
	mux.HandleFunc("GET /{$}", p.authed(p.home))
	mux.HandleFunc("GET /patients", p.authed(p.patientList))
	mux.HandleFunc("GET /patients/{id}", p.authed(p.patientPage))
	mux.HandleFunc("GET /patients/{id}/fhir", p.authed(p.fhirExport))
	mux.HandleFunc("POST /patients/{id}/shares", p.authed(p.createShare))
	mux.HandleFunc("POST /patients/{id}/shares/{share}/revoke", p.authed(p.revokeShare))
	mux.HandleFunc("GET /devices", p.authed(p.fleet))
	mux.HandleFunc("POST /devices/{id}/revoke", p.authed(p.revokeDevice))
	mux.HandleFunc("GET /ota", p.authed(p.campaigns))
	mux.HandleFunc("GET /audit", p.authed(p.audit))
	mux.HandleFunc("GET /sbom", p.authed(p.sbom))
	mux.HandleFunc("GET /sbom.json", p.authed(p.sbomJSON))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.errorPage(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.errorPage(w, r, nil, http.StatusForbidden, "Cross-site request refused.")
	}))
	p.handler = secureHeaders(cop.Handler(mux))
	return p, nil
}

// ServeHTTP implements http.Handler.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), bluetooth=(), usb=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Portal) serveStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	p.static.ServeHTTP(w, r)
}

// source is the client address, for rate limits and audit.
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (p *Portal) csrfToken(s Session) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(s.Token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type handler func(w http.ResponseWriter, r *http.Request, s Session)

// authed loads the session, refuses POSTs without the session's CSRF token,
// and sends anyone without a session to the login page.
func (p *Portal) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(CookieName)
		if err != nil || c.Value == "" || len(c.Value) > 512 {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		s, err := p.cfg.Auth.Session(r.Context(), c.Value, source(r))
		s.Source = source(r)
		if err != nil {
			p.clearCookie(w)
			if !errors.Is(err, ErrNoSession) {
				p.cfg.Logger.Warn("portal: session lookup failed", "err", err)
			}
			http.Redirect(w, r, "/logged-off?reason=expired", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxFormBytes)
			if err := r.ParseForm(); err != nil {
				p.errorPage(w, r, &s, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(p.csrfToken(s))) {
				p.errorPage(w, r, &s, http.StatusForbidden, "The form has expired or did not come from this portal. Reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	}
}

func (p *Portal) setCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true,
		Secure: !p.cfg.InsecureHTTP, SameSite: http.SameSiteStrictMode})
}

func (p *Portal) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, MaxAge: -1,
		Secure: !p.cfg.InsecureHTTP, SameSite: http.SameSiteStrictMode})
}

// navItem is one entry of the navigation bar.
type navItem struct {
	Href, Label string
	Current     bool
}

// page is what every template receives.
type page struct {
	Title       string
	Session     *Session
	CSRF        string
	Nav         []navItem
	IdleSeconds int
	Notice      string
	Error       string
	Body        any
}

// canSee says which roles see which section. The backends enforce access
// again; this only shapes navigation and refuses early.
func canSee(r Role, section string) bool {
	switch section {
	case "patients":
		return r == RolePatient || r == RoleClinician || r == RoleCaregiver || r == RoleSupport
	case "devices", "ota", "sbom":
		return r == RoleAdmin || r == RoleSupport
	case "audit":
		return r == RoleAdmin
	}
	return false
}

func (p *Portal) nav(s *Session, current string) []navItem {
	if s == nil {
		return nil
	}
	var out []navItem
	for _, n := range []struct{ key, href, label string }{
		{"patients", "/patients", "Patients"},
		{"devices", "/devices", "Devices"},
		{"ota", "/ota", "Updates"},
		{"audit", "/audit", "Audit log"},
		{"sbom", "/sbom", "SBOM"},
	} {
		if canSee(s.Role, n.key) {
			out = append(out, navItem{Href: n.href, Label: n.label, Current: n.key == current})
		}
	}
	return out
}

// notices are the only messages a redirect can ask a page to show: the
// query names one, so no request can inject text into a page.
var notices = map[string]string{
	"share-created":  "The share was created.",
	"share-revoked":  "The share was revoked.",
	"device-revoked": "The device was revoked; its certificate and telemetry are no longer accepted.",
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name, section string, s *Session, body any) {
	t, ok := p.pages[name]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pg := page{Title: name, Session: s, Nav: p.nav(s, section), Body: body}
	if s != nil {
		pg.CSRF = p.csrfToken(*s)
		pg.IdleSeconds = int(s.IdleTimeout / time.Second)
	}
	pg.Notice = notices[r.URL.Query().Get("done")]
	if v, ok := body.(interface{ title() string }); ok {
		pg.Title = v.title()
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout.html", pg); err != nil {
		p.cfg.Logger.Error("portal: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, buf.String())
}

type errorBody struct{ Message string }

func (errorBody) title() string { return "Error" }

func (p *Portal) errorPage(w http.ResponseWriter, r *http.Request, s *Session, status int, msg string) {
	p.render(w, r, status, "error", "", s, errorBody{Message: msg})
}

// fail maps a backend error to a page. Details go to the log (without
// values — backends follow the SDK's no-PHI-in-errors rule), never to the page.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, s Session, err error) {
	switch {
	case errors.Is(err, ErrNoSession):
		p.clearCookie(w)
		http.Redirect(w, r, "/logged-off?reason=expired", http.StatusSeeOther)
	case errors.Is(err, ErrForbidden):
		p.errorPage(w, r, &s, http.StatusForbidden, "You do not have access to this.")
	case errors.Is(err, ErrNotFound):
		p.errorPage(w, r, &s, http.StatusNotFound, "Not found.")
	case errors.Is(err, ErrInvalid):
		p.errorPage(w, r, &s, http.StatusBadRequest, "The form is not valid.")
	default:
		p.cfg.Logger.Error("portal: backend failed", "path", r.URL.Path, "err", err)
		p.errorPage(w, r, &s, http.StatusInternalServerError, "Something went wrong. The error was logged.")
	}
}

func (p *Portal) unavailable(w http.ResponseWriter, r *http.Request, s Session, what string) {
	p.errorPage(w, r, &s, http.StatusNotImplemented, what+" is not available in this deployment.")
}

// --- login and logout -------------------------------------------------------

type loginBody struct {
	Hint, Message string
	Purposes      []Purpose
}

func (loginBody) title() string { return "Sign in" }

func (p *Portal) loginPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint})
}

func (p *Portal) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.render(w, r, http.StatusBadRequest, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint, Message: "The form could not be read."})
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	if user == "" || pass == "" || len(user) > 128 || len(pass) > 1024 {
		p.render(w, r, http.StatusBadRequest, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint, Message: "Enter a user name and a password."})
		return
	}
	purpose := r.PostForm.Get("purpose")
	if len(p.cfg.Purposes) > 0 && !slices.ContainsFunc(p.cfg.Purposes, func(x Purpose) bool { return x.Code == purpose }) {
		p.render(w, r, http.StatusBadRequest, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint, Message: "Choose a purpose of use."})
		return
	}
	s, err := p.cfg.Auth.Login(r.Context(), user, pass, purpose, source(r))
	switch {
	case err == nil:
	case errors.Is(err, ErrLockedOut):
		p.render(w, r, http.StatusTooManyRequests, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint, Message: "Too many failed attempts. Try again later."})
		return
	case errors.Is(err, ErrBadCredentials):
		p.render(w, r, http.StatusUnauthorized, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint, Message: "Wrong user name or password."})
		return
	default:
		p.cfg.Logger.Error("portal: login failed", "err", err)
		p.render(w, r, http.StatusInternalServerError, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint, Message: "Sign-in is unavailable. The error was logged."})
		return
	}
	p.setCookie(w, s.Token)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session. It does not require the session to be valid:
// an idle page may post it just as the server expires the session, and
// the user should still learn why they were signed out. Cross-origin posts
// are refused by the CrossOriginProtection in front of every handler.
func (p *Portal) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxFormBytes)
	_ = r.ParseForm()
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" && len(c.Value) <= 512 {
		if err := p.cfg.Auth.Logout(r.Context(), c.Value, source(r)); err != nil && !errors.Is(err, ErrNoSession) {
			p.cfg.Logger.Warn("portal: logout failed", "err", err)
		}
	}
	p.clearCookie(w)
	reason := "logout"
	if r.PostForm.Get("reason") == "idle" {
		reason = "idle"
	}
	http.Redirect(w, r, "/logged-off?reason="+reason, http.StatusSeeOther)
}

func (p *Portal) loggedOff(w http.ResponseWriter, r *http.Request) {
	msg := "You have signed out."
	switch r.URL.Query().Get("reason") {
	case "idle":
		msg = "You were signed out automatically after a period of inactivity."
	case "expired":
		msg = "Your session has ended. Sign in again."
	}
	p.render(w, r, http.StatusOK, "login", "", nil, loginBody{Purposes: p.cfg.Purposes, Hint: p.cfg.LoginHint, Message: msg})
}

func (p *Portal) home(w http.ResponseWriter, r *http.Request, s Session) {
	switch {
	case s.Role == RolePatient && !s.Patient.IsZero():
		http.Redirect(w, r, "/patients/"+s.Patient.String(), http.StatusSeeOther)
	case canSee(s.Role, "patients"):
		http.Redirect(w, r, "/patients", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
	}
}

// --- patients ----------------------------------------------------------------

type patientListBody struct{ Patients []PatientSummary }

func (patientListBody) title() string { return "Patients" }

func (p *Portal) patientList(w http.ResponseWriter, r *http.Request, s Session) {
	if !canSee(s.Role, "patients") {
		p.errorPage(w, r, &s, http.StatusForbidden, "You do not have access to this.")
		return
	}
	if p.cfg.Patients == nil {
		p.unavailable(w, r, s, "The patient directory")
		return
	}
	list, err := p.cfg.Patients.ListPatients(r.Context(), s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "patients", "patients", &s, patientListBody{Patients: list})
}

type patientBody struct {
	Patient   Patient
	Chart     chartView
	Days      int
	DayChoice []int
	Readings  []Reading // newest first, at most maxTableRows
	More      int
	Shares    []Share
	HasShares bool
	HasFHIR   bool
	Roles     []Role
	MaxDays   int
}

func (b patientBody) title() string { return b.Patient.DisplayName }

func patientID(r *http.Request) (iomt.PatientID, bool) {
	id, err := iomt.ParsePatientID(r.PathValue("id"))
	return id, err == nil
}

func (p *Portal) patientPage(w http.ResponseWriter, r *http.Request, s Session) {
	id, ok := patientID(r)
	if !ok {
		p.errorPage(w, r, &s, http.StatusNotFound, "Not found.")
		return
	}
	if p.cfg.Patients == nil {
		p.unavailable(w, r, s, "The patient directory")
		return
	}
	days := p.cfg.ChartDays
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains([]int{7, 14, 30, 90}, n) {
			p.errorPage(w, r, &s, http.StatusBadRequest, "Choose a period of 7, 14, 30 or 90 days.")
			return
		}
		days = n
	}
	pat, err := p.cfg.Patients.Patient(r.Context(), s, id)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	body := patientBody{Patient: pat, Days: days, DayChoice: []int{7, 14, 30, 90}, HasFHIR: p.cfg.FHIR != nil,
		Roles: []Role{RoleClinician, RoleCaregiver}, MaxDays: MaxShareDays}
	now := p.cfg.Now()
	from := now.Add(-time.Duration(days) * 24 * time.Hour)
	var rs []Reading
	if p.cfg.Readings != nil {
		if rs, err = p.cfg.Readings.Readings(r.Context(), s, id, from, now); err != nil {
			p.fail(w, r, s, err)
			return
		}
	}
	body.Chart = buildChart(rs, from, now, p.cfg.Location)
	for i := len(rs) - 1; i >= 0 && len(body.Readings) < maxTableRows; i-- {
		body.Readings = append(body.Readings, rs[i])
	}
	body.More = len(rs) - len(body.Readings)
	if p.cfg.Shares != nil {
		body.HasShares = true
		if body.Shares, err = p.cfg.Shares.Shares(r.Context(), s, id); err != nil && !errors.Is(err, ErrForbidden) {
			p.fail(w, r, s, err)
			return
		}
	}
	p.render(w, r, http.StatusOK, "patient", "patients", &s, body)
}

func (p *Portal) fhirExport(w http.ResponseWriter, r *http.Request, s Session) {
	id, ok := patientID(r)
	if !ok {
		p.errorPage(w, r, &s, http.StatusNotFound, "Not found.")
		return
	}
	if p.cfg.FHIR == nil {
		p.unavailable(w, r, s, "FHIR export")
		return
	}
	now := p.cfg.Now()
	doc, err := p.cfg.FHIR.ExportFHIR(r.Context(), s, id, now.Add(-365*24*time.Hour), now)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Content-Disposition", `attachment; filename="patient-`+id.String()+`-observations.json"`)
	_, _ = w.Write(doc)
}

func (p *Portal) createShare(w http.ResponseWriter, r *http.Request, s Session) {
	id, ok := patientID(r)
	if !ok {
		p.errorPage(w, r, &s, http.StatusNotFound, "Not found.")
		return
	}
	if p.cfg.Shares == nil {
		p.unavailable(w, r, s, "Sharing")
		return
	}
	f := r.PostForm
	req := ShareRequest{Grantee: strings.TrimSpace(f.Get("grantee")), Role: Role(f.Get("role")), Scope: f.Get("scope")}
	days, err := strconv.Atoi(f.Get("days"))
	if err != nil || days < 1 || days > MaxShareDays {
		p.errorPage(w, r, &s, http.StatusBadRequest, fmt.Sprintf("The period must be 1 to %d days.", MaxShareDays))
		return
	}
	req.For = time.Duration(days) * 24 * time.Hour
	if req.Grantee == "" || len(req.Grantee) > 128 {
		p.errorPage(w, r, &s, http.StatusBadRequest, "Enter the user name of the person to share with.")
		return
	}
	if req.Role != RoleClinician && req.Role != RoleCaregiver {
		p.errorPage(w, r, &s, http.StatusBadRequest, "Share with a clinician or a caregiver.")
		return
	}
	if req.Scope != "readings" && req.Scope != "readings+record" {
		p.errorPage(w, r, &s, http.StatusBadRequest, "Choose what to share.")
		return
	}
	if _, err := p.cfg.Shares.CreateShare(r.Context(), s, id, req); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/patients/"+id.String()+"?done=share-created#shares", http.StatusSeeOther)
}

func (p *Portal) revokeShare(w http.ResponseWriter, r *http.Request, s Session) {
	id, ok := patientID(r)
	if !ok || len(r.PathValue("share")) > 128 {
		p.errorPage(w, r, &s, http.StatusNotFound, "Not found.")
		return
	}
	if p.cfg.Shares == nil {
		p.unavailable(w, r, s, "Sharing")
		return
	}
	if err := p.cfg.Shares.RevokeShare(r.Context(), s, id, r.PathValue("share")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/patients/"+id.String()+"?done=share-revoked#shares", http.StatusSeeOther)
}

// --- devices, OTA, audit, SBOM ------------------------------------------------

func (p *Portal) section(w http.ResponseWriter, r *http.Request, s Session, key string, backend any, what string) bool {
	if !canSee(s.Role, key) {
		p.errorPage(w, r, &s, http.StatusForbidden, "You do not have access to this.")
		return false
	}
	if backend == nil {
		p.unavailable(w, r, s, what)
		return false
	}
	return true
}

type fleetBody struct{ Devices []Device }

func (fleetBody) title() string { return "Devices" }

func (p *Portal) fleet(w http.ResponseWriter, r *http.Request, s Session) {
	if !p.section(w, r, s, "devices", nilIfNil(p.cfg.Fleet), "The device registry") {
		return
	}
	ds, err := p.cfg.Fleet.Devices(r.Context(), s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "devices", "devices", &s, fleetBody{Devices: ds})
}

func (p *Portal) revokeDevice(w http.ResponseWriter, r *http.Request, s Session) {
	if !p.section(w, r, s, "devices", nilIfNil(p.cfg.Fleet), "The device registry") {
		return
	}
	id, err := iomt.ParseDeviceID(r.PathValue("id"))
	if err != nil {
		p.errorPage(w, r, &s, http.StatusNotFound, "Not found.")
		return
	}
	if err := p.cfg.Fleet.RevokeDevice(r.Context(), s, id); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/devices?done=device-revoked", http.StatusSeeOther)
}

type campaignBody struct{ Campaigns []Campaign }

func (campaignBody) title() string { return "Firmware updates" }

func (p *Portal) campaigns(w http.ResponseWriter, r *http.Request, s Session) {
	if !p.section(w, r, s, "ota", nilIfNil(p.cfg.Campaigns), "OTA campaigns") {
		return
	}
	cs, err := p.cfg.Campaigns.Campaigns(r.Context(), s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "ota", "ota", &s, campaignBody{Campaigns: cs})
}

type auditBody struct{ AuditPage }

func (auditBody) title() string { return "Audit log" }

func (p *Portal) audit(w http.ResponseWriter, r *http.Request, s Session) {
	if !p.section(w, r, s, "audit", nilIfNil(p.cfg.Audit), "The audit log") {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxAuditRows {
			p.errorPage(w, r, &s, http.StatusBadRequest, fmt.Sprintf("The limit must be 1 to %d.", MaxAuditRows))
			return
		}
		limit = n
	}
	pg, err := p.cfg.Audit.Audit(r.Context(), s, limit)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "audit", "audit", &s, auditBody{pg})
}

type sbomBody struct{ SBOMView }

func (sbomBody) title() string { return "Device firmware SBOM" }

func (p *Portal) sbom(w http.ResponseWriter, r *http.Request, s Session) {
	if !p.section(w, r, s, "sbom", nilIfNil(p.cfg.SBOM), "The SBOM") {
		return
	}
	v, err := p.cfg.SBOM.SBOM(r.Context(), s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "sbom", "sbom", &s, sbomBody{v})
}

func (p *Portal) sbomJSON(w http.ResponseWriter, r *http.Request, s Session) {
	if !p.section(w, r, s, "sbom", nilIfNil(p.cfg.SBOM), "The SBOM") {
		return
	}
	v, err := p.cfg.SBOM.SBOM(r.Context(), s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.cyclonedx+json")
	w.Header().Set("Content-Disposition", `attachment; filename="device-firmware.cdx.json"`)
	_, _ = w.Write(v.JSON)
}

// nilIfNil turns a nil interface value of any backend type into an untyped
// nil, so section can test it.
func nilIfNil[T any](v T) any {
	if any(v) == nil {
		return nil
	}
	return v
}

// statusText spells out the measurement-status flags for the readings table.
func statusText(s iomt.MeasurementStatus) string {
	var out []string
	for _, f := range []struct {
		flag iomt.MeasurementStatus
		text string
	}{
		{iomt.StatusBodyMovement, "body movement"},
		{iomt.StatusCuffTooLoose, "cuff loose"},
		{iomt.StatusIrregularPulse, "irregular pulse"},
		{iomt.StatusImproperPosition, "improper position"},
	} {
		if s.Has(f.flag) {
			out = append(out, f.text)
		}
	}
	switch s.PulseRange() {
	case iomt.StatusPulseAboveRange:
		out = append(out, "pulse high")
	case iomt.StatusPulseBelowRange:
		out = append(out, "pulse low")
	}
	return strings.Join(out, ", ")
}

// LoopbackOnly reports whether addr (host:port) binds only a loopback
// address, which is where [Config.InsecureHTTP] is acceptable.
func LoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
