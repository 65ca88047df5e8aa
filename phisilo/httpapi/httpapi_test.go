package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/httpapi"
	"github.com/openiomt/sdk/phisilo/memory"
	"github.com/openiomt/sdk/phisilo/phisilotest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type hook struct{ got []phisilo.PatientID }

func (h *hook) EnrolmentToken(_ context.Context, p phisilo.PatientID) (string, error) {
	h.got = append(h.got, p)
	return "claim-" + p.String()[:8], nil
}

type fixture struct {
	srv   *httptest.Server
	silo  *phisilo.Silo
	clock *clock
	hook  *hook
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ks, err := phisilo.NewKeyset("", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	s, err := phisilo.New(phisilo.Config{Backend: memory.New(), Keys: ks, Now: c.Now, PasswordIterations: 1000,
		SessionIdleTimeout: 15 * time.Minute, SessionMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hk := &hook{}
	h, err := httpapi.New(httpapi.Config{Silo: s, Enrolment: hk, MaxBodyBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, silo: s, clock: c, hook: hk}
}

func (f *fixture) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	phisilotest.AssertNoMarkers(t, "a response to "+method+" "+path, errorPart(out))
	return resp.StatusCode, out
}

// errorPart returns the body if it is an error response (records are
// legitimately returned to their owner).
func errorPart(b []byte) []byte {
	if bytes.Contains(b, []byte(`"error"`)) {
		return b
	}
	return nil
}

func (f *fixture) registerAndLogin(t *testing.T) (phisilo.PatientID, string) {
	t.Helper()
	code, body := f.do(t, "POST", "/v1/patients", "", map[string]any{"record": phisilotest.MarkerRecord(), "user_id": "ada", "password": "correct horse battery"})
	if code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	var reg struct {
		PatientID      phisilo.PatientID `json:"patient_id"`
		EnrolmentToken string            `json:"enrolment_token"`
	}
	if err := json.Unmarshal(body, &reg); err != nil {
		t.Fatal(err)
	}
	if len(f.hook.got) == 0 || f.hook.got[len(f.hook.got)-1] != reg.PatientID || reg.EnrolmentToken == "" {
		t.Fatalf("enrolment hook not called for the new patient")
	}
	return reg.PatientID, f.login(t, "ada", "correct horse battery", phisilo.PurposePatientRequest)
}

func (f *fixture) login(t *testing.T, user, pass string, purpose phisilo.Purpose) string {
	t.Helper()
	code, body := f.do(t, "POST", "/v1/sessions", "", map[string]any{"user_id": user, "password": pass, "purpose": purpose})
	if code != http.StatusCreated {
		t.Fatalf("login: %d %s", code, body)
	}
	var lr struct{ Token string }
	_ = json.Unmarshal(body, &lr)
	return lr.Token
}

func TestRegisterReadUpdateDelete(t *testing.T) {
	f := newFixture(t)
	id, tok := f.registerAndLogin(t)
	code, body := f.do(t, "GET", "/v1/patients/"+id.String(), tok, nil)
	if code != 200 || !strings.Contains(string(body), phisilotest.Markers()[0]) {
		t.Fatalf("read own record: %d", code)
	}
	rec := phisilotest.MarkerRecord()
	rec.Address.City = "Shelbyville"
	if code, _ := f.do(t, "PUT", "/v1/patients/"+id.String(), tok, rec); code != http.StatusNoContent {
		t.Fatalf("update: %d", code)
	}
	if _, body := f.do(t, "GET", "/v1/patients/"+id.String(), tok, nil); !strings.Contains(string(body), "Shelbyville") {
		t.Fatalf("update lost")
	}
	if code, _ := f.do(t, "DELETE", "/v1/patients/"+id.String(), tok, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := f.do(t, "GET", "/v1/patients/"+id.String(), tok, nil); code != http.StatusNotFound {
		t.Fatalf("read after delete: %d", code)
	}
}

func TestGrantsAndAuditOverHTTP(t *testing.T) {
	f := newFixture(t)
	id, tok := f.registerAndLogin(t)
	adminTok := f.bootstrapAdmin(t)
	code, body := f.do(t, "POST", "/v1/accounts", adminTok, map[string]any{"user_id": "dr-house", "role": "clinician", "password": "vicodin vicodin"})
	if code != http.StatusCreated {
		t.Fatalf("create clinician: %d %s", code, body)
	}
	drTok := f.login(t, "dr-house", "vicodin vicodin", phisilo.PurposeTreatment)
	path := "/v1/patients/" + id.String()
	if code, _ := f.do(t, "GET", path, drTok, nil); code != http.StatusForbidden {
		t.Fatalf("clinician without grant: %d", code)
	}
	code, body = f.do(t, "POST", path+"/grants", tok, map[string]any{"grantee": "dr-house", "grantee_role": "clinician", "sections": []string{"contact"}, "duration_seconds": 3600})
	if code != http.StatusCreated {
		t.Fatalf("grant: %d %s", code, body)
	}
	var g phisilo.Grant
	_ = json.Unmarshal(body, &g)
	// The clinician's portal finds the patient through GET /v1/patients.
	code, body = f.do(t, "GET", "/v1/patients", drTok, nil)
	var list struct {
		Patients []phisilo.PatientRef `json:"patients"`
		Next     string               `json:"next"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || len(list.Patients) != 1 || list.Patients[0].Patient != id ||
		list.Patients[0].Access != phisilo.AccessGrant || list.Patients[0].GrantID != g.ID || list.Next != "" {
		t.Fatalf("clinician patient list: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", "/v1/patients", adminTok, nil); code != http.StatusForbidden {
		t.Fatalf("admin patient list: %d", code)
	}
	if code, _ := f.do(t, "GET", "/v1/patients?after=nope", drTok, nil); code != http.StatusBadRequest {
		t.Fatalf("bad after: %d", code)
	}
	code, body = f.do(t, "GET", path, drTok, nil)
	if code != 200 || strings.Contains(string(body), phisilotest.Markers()[0]) || !strings.Contains(string(body), phisilotest.Markers()[3]) {
		t.Fatalf("clinician with contact grant: %d", code)
	}
	if code, _ := f.do(t, "DELETE", path+"/grants/"+g.ID, tok, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := f.do(t, "GET", path, drTok, nil); code != http.StatusForbidden {
		t.Fatalf("after revoke: %d", code)
	}
	if code, body := f.do(t, "GET", "/v1/patients", drTok, nil); code != 200 || !strings.Contains(string(body), `"patients":[]`) {
		t.Fatalf("clinician patient list after revoke: %d %s", code, body)
	}
	// The patient's accounting of disclosures shows the clinician's reads.
	code, body = f.do(t, "GET", "/v1/audit?limit=100", tok, nil)
	if code != 200 || !strings.Contains(string(body), `"user":"dr-house"`) || !strings.Contains(string(body), `"outcome":"denied"`) {
		t.Fatalf("patient audit query: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", "/v1/audit", drTok, nil); code != http.StatusForbidden {
		t.Fatalf("clinician audit query: %d", code)
	}
	if code, _ := f.do(t, "GET", "/v1/audit?limit=100000", adminTok, nil); code != http.StatusBadRequest {
		t.Fatalf("oversized audit page: %d", code)
	}
	code, body = f.do(t, "GET", "/v1/accounts?limit=10", adminTok, nil)
	if code != 200 || !strings.Contains(string(body), `"user_id":"dr-house"`) || strings.Contains(string(body), "pbkdf2") {
		t.Fatalf("list accounts: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", "/v1/accounts", tok, nil); code != http.StatusForbidden {
		t.Fatalf("patient listing accounts: %d", code)
	}
	if code, _ := f.do(t, "PUT", "/v1/accounts/dr-house/password", drTok, map[string]string{"old_password": "vicodin vicodin", "new_password": "better password 2"}); code != http.StatusNoContent {
		t.Fatalf("change own password: %d", code)
	}
	if code, _ := f.do(t, "PUT", "/v1/accounts/admin/password", drTok, map[string]string{"old_password": "x", "new_password": "hijacked password"}); code != http.StatusForbidden {
		t.Fatalf("change someone else's password: %d", code)
	}
	if code, _ := f.do(t, "DELETE", "/v1/accounts/dr-house", adminTok, nil); code != http.StatusNoContent {
		t.Fatalf("delete account: %d", code)
	}
	if code, _ := f.do(t, "GET", path, drTok, nil); code != http.StatusUnauthorized {
		t.Fatalf("session of a deleted account: %d", code)
	}
}

func (f *fixture) bootstrapAdmin(t *testing.T) string {
	t.Helper()
	boot := phisilo.Principal{UserID: "installer", Role: phisilo.RoleAdmin, Purpose: phisilo.PurposeSystemAdmin}
	if err := f.silo.CreateAccount(context.Background(), boot, phisilo.NewAccount{UserID: "admin", Role: phisilo.RoleAdmin, Password: "admin admin admin"}); err != nil {
		t.Fatal(err)
	}
	return f.login(t, "admin", "admin admin admin", phisilo.PurposeSystemAdmin)
}

func TestSessionIdleTimeoutLogsOff(t *testing.T) {
	f := newFixture(t)
	id, tok := f.registerAndLogin(t)
	path := "/v1/patients/" + id.String()
	f.clock.Advance(14 * time.Minute)
	if code, _ := f.do(t, "GET", path, tok, nil); code != 200 {
		t.Fatalf("active session: %d", code)
	}
	f.clock.Advance(15 * time.Minute)
	if code, _ := f.do(t, "GET", path, tok, nil); code != http.StatusUnauthorized {
		t.Fatalf("idle session: %d, want 401", code)
	}
	if code, _ := f.do(t, "GET", path, tok, nil); code != http.StatusUnauthorized {
		t.Fatalf("idle session revived")
	}
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	f := newFixture(t)
	id, tok := f.registerAndLogin(t)
	path := "/v1/patients/" + id.String()
	for i := 0; i < 5; i++ { // keep it busy: 50 minutes
		f.clock.Advance(10 * time.Minute)
		if code, _ := f.do(t, "GET", path, tok, nil); code != 200 {
			t.Fatalf("busy session at %d0m: %d", i+1, code)
		}
	}
	f.clock.Advance(10 * time.Minute)
	if code, _ := f.do(t, "GET", path, tok, nil); code != http.StatusUnauthorized {
		t.Fatalf("session past max age: %d", code)
	}
}

func TestReplayTokenAfterLogout(t *testing.T) {
	f := newFixture(t)
	id, tok := f.registerAndLogin(t)
	if code, _ := f.do(t, "DELETE", "/v1/sessions/current", tok, nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := f.do(t, "GET", "/v1/patients/"+id.String(), tok, nil); code != http.StatusUnauthorized {
		t.Fatalf("token after logout: %d", code)
	}
}

func TestBruteForceLoginIsUninformative(t *testing.T) {
	f := newFixture(t)
	f.registerAndLogin(t)
	_, b1 := f.do(t, "POST", "/v1/sessions", "", map[string]any{"user_id": "ada", "password": "wrong password!", "purpose": "PATRQT"})
	_, b2 := f.do(t, "POST", "/v1/sessions", "", map[string]any{"user_id": "nobody", "password": "wrong password!", "purpose": "PATRQT"})
	if !bytes.Equal(b1, b2) || !strings.Contains(string(b1), "unauthenticated") {
		t.Fatalf("login failures differ: %s vs %s", b1, b2)
	}
}

func TestHostileBodies(t *testing.T) {
	f := newFixture(t)
	id, tok := f.registerAndLogin(t)
	path := "/v1/patients/" + id.String()
	huge := `{"name":{"given":"` + strings.Repeat("A", 16<<10) + `"}}`
	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"oversize", "PUT", path, huge, http.StatusRequestEntityTooLarge},
		{"unknown field", "PUT", path, `{"ssn":"` + phisilotest.Markers()[0] + `"}`, http.StatusBadRequest},
		{"trailing data", "PUT", path, `{} {}`, http.StatusBadRequest},
		{"not json", "PUT", path, `<xml/>`, http.StatusBadRequest},
		{"bad date echo", "PUT", path, `{"birth_date":"` + phisilotest.Markers()[1] + `"}`, http.StatusBadRequest},
		{"bad email echo", "PUT", path, `{"contact":{"email":"` + phisilotest.Markers()[2] + `"}}`, http.StatusBadRequest},
		{"bad patient id", "GET", "/v1/patients/" + strings.ToUpper(id.String()), "", http.StatusBadRequest},
		{"register oversize", "POST", "/v1/patients", `{"record":` + huge + `}`, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			code, out := f.do(t, c.method, c.path, tok, body)
			if code != c.want {
				t.Fatalf("status %d, want %d (%s)", code, c.want, out)
			}
			if !json.Valid(out) || !bytes.Contains(out, []byte(`"error"`)) {
				t.Fatalf("error response not JSON: %s", out)
			}
		})
	}
	req, _ := http.NewRequest("PUT", f.srv.URL+path, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", resp.StatusCode)
	}
}

func TestUnauthenticatedAccessIsRefused(t *testing.T) {
	f := newFixture(t)
	id, _ := f.registerAndLogin(t)
	for _, tok := range []string{"", "forged", strings.Repeat("x", 10000)} {
		if code, _ := f.do(t, "GET", "/v1/patients/"+id.String(), tok, nil); code != http.StatusUnauthorized {
			t.Fatalf("token %.8q: %d", tok, code)
		}
	}
}

// TestCredentialStuffingIsThrottled: repeated failed logins answer 429
// with Retry-After and a body that names neither the user nor whether it
// exists.
func TestCredentialStuffingIsThrottled(t *testing.T) {
	f := newFixture(t)
	f.registerAndLogin(t)
	for i := 0; i < 5; i++ {
		if code, _ := f.do(t, "POST", "/v1/sessions", "", map[string]any{"user_id": "ada", "password": "wrong password!", "purpose": "PATRQT"}); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
		if code, _ := f.do(t, "POST", "/v1/sessions", "", map[string]any{"user_id": "nobody", "password": "wrong password!", "purpose": "PATRQT"}); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	var bodies [][]byte
	for _, user := range []string{"ada", "nobody"} {
		j, _ := json.Marshal(map[string]any{"user_id": user, "password": "correct horse battery", "purpose": "PATRQT"})
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/sessions", bytes.NewReader(j))
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
			t.Fatalf("%s while locked: %d Retry-After %q", user, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if bytes.Contains(b, []byte(user)) {
			t.Fatalf("throttle response echoes the user ID")
		}
		bodies = append(bodies, b)
	}
	if !bytes.Equal(bodies[0], bodies[1]) {
		t.Fatalf("throttle responses differ between a real and an unknown account")
	}
}
