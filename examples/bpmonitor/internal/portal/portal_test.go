package portal

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// fakeBackend is an in-memory stand-in for the SDK backends, for testing the
// web layer alone. The example wires the real ones.
type fakeBackend struct {
	mu       sync.Mutex
	now      time.Time
	sessions map[string]Session
	patient  iomt.PatientID
	readings []Reading
	shares   []Share
	views    int
}

const marker = "ZZPHIMARKER"

func newFake(now time.Time) *fakeBackend {
	f := &fakeBackend{now: now, sessions: map[string]Session{}, patient: iomt.MustParsePatientID("3f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b")}
	dev := iomt.MustParseDeviceID("7b1d3c2e-0f4a-4b5c-8d6e-7f8091a2b3c4")
	for i := 0; i < 20; i++ {
		f.readings = append(f.readings, Reading{Device: dev, Seq: uint64(i + 1), BloodPressure: iomt.BloodPressure{
			Systolic: 120 + float64(i%5), Diastolic: 80, Pulse: 70, MeasuredAt: now.Add(-time.Duration(20-i) * 6 * time.Hour)}})
	}
	return f
}

func (f *fakeBackend) Login(_ context.Context, user, pass, _, _ string) (Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	roles := map[string]Role{"dr": RoleClinician, "admin": RoleAdmin, "pat": RolePatient}
	if pass != "secret" || roles[user] == "" {
		return Session{}, ErrBadCredentials
	}
	s := Session{Token: "tok-" + user, UserID: user, DisplayName: user, Role: roles[user], IdleTimeout: 2 * time.Minute}
	if user == "pat" {
		s.Patient = f.patient
	}
	f.sessions[s.Token] = s
	return s, nil
}

func (f *fakeBackend) Session(_ context.Context, tok, _ string) (Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[tok]
	if !ok {
		return Session{}, ErrNoSession
	}
	return s, nil
}

func (f *fakeBackend) Logout(_ context.Context, tok, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, tok)
	return nil
}

func (f *fakeBackend) ListPatients(context.Context, Session) ([]PatientSummary, error) {
	return []PatientSummary{{ID: f.patient, DisplayName: "Alex " + marker, Access: "shared"}}, nil
}

func (f *fakeBackend) Patient(_ context.Context, s Session, id iomt.PatientID) (Patient, error) {
	if id != f.patient {
		return Patient{}, ErrNotFound
	}
	f.mu.Lock()
	f.views++
	f.mu.Unlock()
	return Patient{ID: id, DisplayName: "Alex " + marker, Fields: []Field{{"Born", "1960-01-01"}}, CanShare: s.Role == RolePatient}, nil
}

func (f *fakeBackend) Readings(_ context.Context, _ Session, id iomt.PatientID, from, to time.Time) ([]Reading, error) {
	var out []Reading
	for _, r := range f.readings {
		if !r.MeasuredAt.Before(from) && !r.MeasuredAt.After(to) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeBackend) Shares(context.Context, Session, iomt.PatientID) ([]Share, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Share(nil), f.shares...), nil
}

func (f *fakeBackend) CreateShare(_ context.Context, s Session, _ iomt.PatientID, r ShareRequest) (Share, error) {
	if s.Role != RolePatient {
		return Share{}, ErrForbidden
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sh := Share{ID: "sh1", Grantee: r.Grantee, Role: r.Role, Scope: r.Scope, Created: f.now, Expires: f.now.Add(r.For)}
	f.shares = append(f.shares, sh)
	return sh, nil
}

func (f *fakeBackend) RevokeShare(_ context.Context, _ Session, _ iomt.PatientID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.shares {
		if f.shares[i].ID == id {
			f.shares[i].Revoked = f.now
			return nil
		}
	}
	return ErrNotFound
}

type harness struct {
	t    *testing.T
	srv  *httptest.Server
	c    *http.Client
	fake *fakeBackend
}

func newHarness(t *testing.T) *harness {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f := newFake(now)
	p, err := New(Config{Auth: f, Patients: f, Readings: f, Shares: f, Now: func() time.Time { return now }, InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &harness{t: t, srv: srv, c: c, fake: f}
}

func (h *harness) do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (h *harness) login(user string) {
	h.t.Helper()
	resp, _ := h.do("POST", "/login", url.Values{"username": {user}, "password": {"secret"}})
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (h *harness) csrf(path string) string {
	h.t.Helper()
	_, body := h.do("GET", path, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

func TestSecureHeadersOnEveryPage(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/login", "/patients", "/nope"} {
		resp, _ := h.do("GET", path, nil)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: weak CSP %q", path, csp)
		}
	}
}

func TestLoginRequiredAndCookieFlags(t *testing.T) {
	h := newHarness(t)
	resp, _ := h.do("GET", "/patients", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous /patients: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := h.do("POST", "/login", url.Values{"username": {"dr"}, "password": {"wrong" + marker}})
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, marker) {
		t.Fatalf("bad login: %d, echoes input: %v", resp.StatusCode, strings.Contains(body, marker))
	}
	resp, _ = h.do("POST", "/login", url.Values{"username": {"dr"}, "password": {"secret"}})
	sc := resp.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Fatalf("cookie flags: %q", sc)
	}
	if resp, _ = h.do("GET", "/patients", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/patients after login: %d", resp.StatusCode)
	}
}

func TestSecureCookieUnlessInsecureHTTP(t *testing.T) {
	f := newFake(time.Now())
	p, _ := New(Config{Auth: f})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/login", strings.NewReader("username=dr&password=secret"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p.ServeHTTP(rec, req)
	if !strings.Contains(rec.Header().Get("Set-Cookie"), "Secure") {
		t.Fatalf("cookie without Secure: %q", rec.Header().Get("Set-Cookie"))
	}
}

func TestCSRFFormWithoutTokenRefused(t *testing.T) {
	h := newHarness(t)
	h.login("pat")
	id := h.fake.patient.String()
	form := url.Values{"grantee": {"dr"}, "role": {"clinician"}, "scope": {"readings"}, "days": {"30"}}
	if resp, _ := h.do("POST", "/patients/"+id+"/shares", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("share without token: %d", resp.StatusCode)
	}
	form.Set("csrf", "forged")
	if resp, _ := h.do("POST", "/patients/"+id+"/shares", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("share with forged token: %d", resp.StatusCode)
	}
	if len(h.fake.shares) != 0 {
		t.Fatal("share created without a valid token")
	}
}

func TestCSRFCrossSiteRequestRefused(t *testing.T) {
	h := newHarness(t)
	h.login("pat")
	id := h.fake.patient.String()
	form := url.Values{"grantee": {"dr"}, "role": {"clinician"}, "scope": {"readings"}, "days": {"30"}, "csrf": {h.csrf("/patients/" + id)}}
	if resp, _ := h.do("POST", "/patients/"+id+"/shares", form, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
	if resp, _ := h.do("POST", "/patients/"+id+"/shares", form, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign-origin POST: %d", resp.StatusCode)
	}
}

func TestShareCreateAndRevoke(t *testing.T) {
	h := newHarness(t)
	h.login("pat")
	id := h.fake.patient.String()
	tok := h.csrf("/patients/" + id)
	resp, _ := h.do("POST", "/patients/"+id+"/shares", url.Values{"grantee": {"dr"}, "role": {"clinician"}, "scope": {"readings"}, "days": {"30"}, "csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	_, body := h.do("GET", "/patients/"+id+"?done=share-created", nil)
	if !strings.Contains(body, `data-grantee="dr" data-active="true"`) || !strings.Contains(body, "The share was created.") {
		t.Fatal("share not listed as active")
	}
	resp, _ = h.do("POST", "/patients/"+id+"/shares/sh1/revoke", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	_, body = h.do("GET", "/patients/"+id, nil)
	if !strings.Contains(body, `data-active="false"`) || !strings.Contains(body, "revoked") {
		t.Fatal("share not shown revoked")
	}
	for _, days := range []string{"0", "366", "x"} {
		resp, _ = h.do("POST", "/patients/"+id+"/shares", url.Values{"grantee": {"dr"}, "role": {"clinician"}, "scope": {"readings"}, "days": {days}, "csrf": {tok}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("days=%s: %d", days, resp.StatusCode)
		}
	}
	resp, _ = h.do("POST", "/patients/"+id+"/shares", url.Values{"grantee": {"dr"}, "role": {"admin"}, "scope": {"readings"}, "days": {"3"}, "csrf": {tok}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("share with admin role: %d", resp.StatusCode)
	}
}

func TestPatientPageChartAndTable(t *testing.T) {
	h := newHarness(t)
	h.login("dr")
	_, body := h.do("GET", "/patients/"+h.fake.patient.String()+"?days=7", nil)
	if !strings.Contains(body, `data-points="20"`) {
		t.Fatal("chart does not show 20 points")
	}
	if n := strings.Count(body, `class="sys-pt"`); n != 20 {
		t.Fatalf("systolic points: %d", n)
	}
	if !strings.Contains(body, `class="band-sys"`) || !strings.Contains(body, `class="line pulse"`) {
		t.Fatal("chart lacks bands or pulse line")
	}
	if n := strings.Count(body, "<tr><td>2026-"); n != 20 {
		t.Fatalf("table rows: %d", n)
	}
	if resp, _ := h.do("GET", "/patients/"+h.fake.patient.String()+"?days=3", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("days=3: %d", resp.StatusCode)
	}
}

func TestErrorPagesDoNotEchoInput(t *testing.T) {
	h := newHarness(t)
	h.login("dr")
	for _, path := range []string{"/patients/" + marker, "/" + marker, "/patients/" + h.fake.patient.String() + "?days=" + marker} {
		_, body := h.do("GET", path, nil)
		if strings.Contains(body, marker) {
			t.Errorf("%s echoed", path)
		}
	}
	_, body := h.do("GET", "/patients?done="+marker, nil)
	if strings.Contains(body, `class="notice"`) && strings.Contains(body, "ZZ") {
		t.Error("notice injected")
	}
}

func TestRolesSeeOnlyTheirSections(t *testing.T) {
	h := newHarness(t)
	h.login("admin")
	if resp, _ := h.do("GET", "/patients", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("admin /patients: %d", resp.StatusCode)
	}
	_, body := h.do("GET", "/devices", nil)
	if strings.Contains(body, `href="/patients"`) {
		t.Fatal("admin nav shows patients")
	}
	h2 := newHarness(t)
	h2.login("dr")
	if resp, _ := h2.do("GET", "/audit", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("clinician /audit: %d", resp.StatusCode)
	}
}

func TestExpiredSessionLogsOff(t *testing.T) {
	h := newHarness(t)
	h.login("dr")
	h.fake.mu.Lock()
	h.fake.sessions = map[string]Session{} // the backend expired it
	h.fake.mu.Unlock()
	resp, _ := h.do("GET", "/patients", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/logged-off?reason=expired" {
		t.Fatalf("expired session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatal("cookie not cleared")
	}
}

func TestIdleLogoutThroughForm(t *testing.T) {
	h := newHarness(t)
	h.login("dr")
	_, body := h.do("GET", "/patients", nil)
	if !strings.Contains(body, `data-idle-seconds="120"`) {
		t.Fatal("page lacks the idle timeout")
	}
	tok := csrfRE.FindStringSubmatch(body)[1]
	resp, _ := h.do("POST", "/logout", url.Values{"csrf": {tok}, "reason": {"idle"}})
	if resp.Header.Get("Location") != "/logged-off?reason=idle" {
		t.Fatalf("logout: %s", resp.Header.Get("Location"))
	}
	_, body = h.do("GET", "/logged-off?reason=idle", nil)
	if !strings.Contains(body, "inactivity") {
		t.Fatal("idle message missing")
	}
	if resp, _ := h.do("GET", "/patients", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("session still valid after logout")
	}
}

func TestOversizedFormRefused(t *testing.T) {
	h := newHarness(t)
	h.login("pat")
	big := strings.Repeat("a", DefaultMaxFormBytes+1)
	resp, _ := h.do("POST", "/patients/"+h.fake.patient.String()+"/shares", url.Values{"grantee": {big}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("oversized form: %d", resp.StatusCode)
	}
}

func TestUnavailableFeatures(t *testing.T) {
	h := newHarness(t)
	h.login("admin")
	for _, path := range []string{"/devices", "/ota", "/audit", "/sbom"} {
		if resp, _ := h.do("GET", path, nil); resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("%s without backend: %d", path, resp.StatusCode)
		}
	}
}

func TestNoExternalResources(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
	for _, fsys := range []fs.FS{templateFS, staticFS} {
		_ = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := fs.ReadFile(fsys, path)
			if ext.Match(b) {
				t.Errorf("%s loads an external resource", path)
			}
			return nil
		})
	}
	h := newHarness(t)
	for _, path := range []string{"/static/app.css", "/static/app.js", "/static/favicon.svg"} {
		if resp, _ := h.do("GET", path, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "0.0.0.0:8080": false, ":8080": false, "10.0.0.1:80": false} {
		if LoopbackOnly(addr) != want {
			t.Errorf("LoopbackOnly(%q) != %v", addr, want)
		}
	}
}

func TestLoginRequiresOfferedPurpose(t *testing.T) {
	f := newFake(time.Now())
	p, _ := New(Config{Auth: f, InsecureHTTP: true, Purposes: []Purpose{{"TREAT", "Treatment"}}})
	for purpose, want := range map[string]int{"": http.StatusBadRequest, "HSYSADMIN": http.StatusBadRequest, "TREAT": http.StatusSeeOther} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"username": {"dr"}, "password": {"secret"}, "purpose": {purpose}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("purpose %q: %d, want %d", purpose, rec.Code, want)
		}
	}
}
