package portal

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/browsertest"
)

// TestBrowserIdleLogoff checks in a real browser that the page's script runs
// under the Content-Security-Policy and signs the user out after the idle
// timeout, and that the chart renders as SVG.
func TestBrowserIdleLogoff(t *testing.T) {
	now := time.Now()
	f := newFake(now)
	auth := idleAuth{f, 3 * time.Second}
	p, err := New(Config{Auth: auth, Patients: f, Readings: f, Shares: f, Now: func() time.Time { return now }, InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()

	b := browsertest.New(t)
	b.Step("login")
	b.Do(10*time.Second,
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), "dr"),
		chromedp.SendKeys(chromedp.ID("password"), "secret"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("patients")),
	)
	b.Step("chart")
	b.Do(10*time.Second, chromedp.Click(chromedp.CSS("a.patient-link")), chromedp.WaitVisible(chromedp.ID("bp-chart")))
	pts := browsertest.Run(b, 5*time.Second, chromedp.AttributeValue(chromedp.ID("bp-chart"), "data-points"))
	if pts.Value != "20" {
		t.Fatalf("chart points = %q", pts.Value)
	}
	b.Step("idle logoff")
	b.Do(15*time.Second, chromedp.WaitVisible(chromedp.ID("login-message")))
	msg := browsertest.Run(b, 5*time.Second, chromedp.Text(chromedp.ID("login-message")))
	if !strings.Contains(msg, "inactivity") {
		t.Fatalf("after idle timeout: %q", msg)
	}
}

type idleAuth struct {
	*fakeBackend
	idle time.Duration
}

func (a idleAuth) Login(ctx context.Context, u, p, purpose, src string) (Session, error) {
	s, err := a.fakeBackend.Login(ctx, u, p, purpose, src)
	s.IdleTimeout = a.idle
	return s, err
}

func (a idleAuth) Session(ctx context.Context, tok, src string) (Session, error) {
	s, err := a.fakeBackend.Session(ctx, tok, src)
	s.IdleTimeout = a.idle
	return s, err
}
