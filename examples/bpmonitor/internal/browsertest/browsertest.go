// Package browsertest starts headless Chromium for the portal's browser
// tests, through chromedp, and keeps screenshots of failures.
//
// The browser comes from internal/testenv (IOMT_TEST_CHROMIUM_BIN or
// chromium on PATH; the test is skipped without it, or fails under
// IOMT_REQUIRE_SERVICES=1). Every browser gets a new profile directory and
// runs with networking features that phone home turned off, so a test only
// ever talks to the loopback server under test.
//
// When the test has failed by the time it ends, a full-page screenshot and
// the page's HTML are written to the artifacts directory:
// IOMT_TEST_ARTIFACTS_DIR if set, else a new directory under the system
// temporary directory. The test log names the files.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openiomt/sdk/internal/testenv"
)

// Browser is one headless Chromium with one tab.
type Browser struct {
	// Ctx is the chromedp context of the tab; derive timeouts from it.
	Ctx  context.Context
	t    testing.TB
	step string
}

// New starts Chromium for t. It is stopped when t ends, after a failure
// screenshot if t failed.
func New(t testing.TB) *Browser {
	t.Helper()
	bin := testenv.ChromiumBin(t)
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	b := &Browser{Ctx: ctx, t: t, step: "start"}
	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts()
		}
		cancel()
		acancel()
	})
	if err := chromedp.Do(ctx); err != nil { // allocate the browser now
		t.Fatalf("browsertest: start chromium: %v", err)
	}
	return b
}

// Step names what the test is doing, for the artifact file names and the
// failure message.
func (b *Browser) Step(name string) { b.step = name }

// Do runs actions with a timeout, failing the test with the step name.
func (b *Browser) Do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser step %q: %v", b.step, err)
	}
}

// Run runs one action that returns a value, with a timeout.
func Run[T any](b *Browser, timeout time.Duration, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser step %q: %v", b.step, err)
	}
	return v
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// saveArtifacts writes a screenshot and the HTML of the current page.
func (b *Browser) saveArtifacts() {
	dir := os.Getenv("IOMT_TEST_ARTIFACTS_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "bpmonitor-browser-artifacts-"); err != nil {
			b.t.Logf("browsertest: no artifacts directory: %v", err)
			return
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		b.t.Logf("browsertest: artifacts directory: %v", err)
		return
	}
	base := filepath.Join(dir, unsafeName.ReplaceAllString(b.t.Name()+"-"+b.step, "_"))
	ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		if err := os.WriteFile(base+".png", png, 0o600); err == nil {
			b.t.Logf("browsertest: screenshot of the failure: %s.png", base)
		}
	} else {
		b.t.Logf("browsertest: screenshot failed: %v", err)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML("html")); err == nil {
		_ = os.WriteFile(base+".html", []byte(html), 0o600)
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		b.t.Logf("browsertest: page %s saved as %s.html", strings.TrimSpace(loc), base)
	}
}
