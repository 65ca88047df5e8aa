package ota

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// mirror is an HTTPS test server for one image.
type mirror struct {
	srv *httptest.Server
	mu  sync.Mutex
	// ranges records the Range header of each request.
	ranges []string
	// cutAfter, when > 0, makes the first cutN responses stop after
	// cutAfter body bytes.
	cutAfter int64
	cutN     int
	status   []int // statuses to answer first, in order
	body     func(w http.ResponseWriter, r *http.Request)
}

func newMirror(t *testing.T, img []byte) *mirror {
	m := &mirror{}
	m.body = func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "fw.img", time.Unix(1700000000, 0), bytes.NewReader(img))
	}
	m.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.ranges = append(m.ranges, r.Header.Get("Range"))
		var status int
		if len(m.status) > 0 {
			status, m.status = m.status[0], m.status[1:]
		}
		cut := m.cutN > 0
		if cut {
			m.cutN--
		}
		m.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		if cut {
			w = &cutWriter{ResponseWriter: w, left: m.cutAfter}
		}
		m.body(w, r)
	}))
	t.Cleanup(func() {
		m.srv.Close()
	})
	return m
}

// cutWriter drops the connection after left bytes of body.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, _ := c.ResponseWriter.Write(p)
	c.left -= int64(n)
	if c.left <= 0 {
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	return n, nil
}

func (m *mirror) downloader(t *testing.T, mod func(*DownloaderConfig)) (*Downloader, *[]time.Duration) {
	var sleeps []time.Duration
	client := m.srv.Client()
	t.Cleanup(client.CloseIdleConnections)
	cfg := DownloaderConfig{
		Client: client,
		Rand:   rand.New(rand.NewPCG(1, 2)),
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps = append(sleeps, d)
			return ctx.Err()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	return NewDownloader(cfg), &sleeps
}

func (m *mirror) manifest(img []byte) *Manifest {
	man := manifestFor(img)
	man.URL = m.srv.URL + "/fw.img"
	return man
}

func TestDownloaderRangeResumeAfterDrop(t *testing.T) {
	img := testImage(1<<20, 3)
	m := newMirror(t, img)
	m.cutAfter, m.cutN = 300_000, 2
	var progress []int64
	d, sleeps := m.downloader(t, func(c *DownloaderConfig) {
		c.Progress = func(done, total int64) {
			if total != int64(len(img)) {
				t.Errorf("total %d", total)
			}
			progress = append(progress, done)
		}
	})
	rc, err := d.Open(context.Background(), m.manifest(img), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	if len(m.ranges) != 3 || m.ranges[0] != "" || m.ranges[1] != "bytes=300000-" || m.ranges[2] != "bytes=600000-" {
		t.Fatalf("ranges %q", m.ranges)
	}
	if len(*sleeps) != 2 {
		t.Fatalf("sleeps %v", *sleeps)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] < progress[i-1] {
			t.Fatal("progress went backwards")
		}
	}
	if progress[len(progress)-1] != int64(len(img)) {
		t.Fatalf("progress ended at %d", progress[len(progress)-1])
	}
}

func TestDownloaderOpenAtOffset(t *testing.T) {
	img := testImage(100_000, 4)
	m := newMirror(t, img)
	d, _ := m.downloader(t, nil)
	rc, err := d.Open(context.Background(), m.manifest(img), 40_000)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, img[40_000:]) || m.ranges[0] != "bytes=40000-" {
		t.Fatalf("got %d bytes, ranges %q", len(got), m.ranges)
	}
}

func TestDownloaderBoundedRetriesWithJitter(t *testing.T) {
	img := testImage(1000, 5)
	m := newMirror(t, img)
	m.status = []int{503, 503, 503, 503, 503, 503, 503, 503}
	d, sleeps := m.downloader(t, func(c *DownloaderConfig) {
		c.MaxRetries = 3
		c.BaseDelay = 100 * time.Millisecond
		c.MaxDelay = 250 * time.Millisecond
	})
	_, err := d.Open(context.Background(), m.manifest(img), 0)
	var de *DownloadError
	if !errors.As(err, &de) || !errors.Is(err, ErrDownload) || de.StatusCode != 503 || de.Attempts != 4 {
		t.Fatalf("err = %v", err)
	}
	caps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond}
	if len(*sleeps) != 3 {
		t.Fatalf("sleeps %v", *sleeps)
	}
	distinct := map[time.Duration]bool{}
	for i, s := range *sleeps {
		if s < 0 || s > caps[i] {
			t.Fatalf("sleep %d = %v exceeds %v", i, s, caps[i])
		}
		distinct[s] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("no jitter: %v", *sleeps)
	}
	// Succeeds once the mirror recovers within the budget.
	m.status = []int{503, 429}
	rc, err := d.Open(context.Background(), m.manifest(img), 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func TestDownloaderNotFoundIsFinal(t *testing.T) {
	img := testImage(1000, 6)
	m := newMirror(t, img)
	m.status = []int{404}
	d, sleeps := m.downloader(t, nil)
	_, err := d.Open(context.Background(), m.manifest(img), 0)
	var de *DownloadError
	if !errors.As(err, &de) || de.StatusCode != 404 || len(*sleeps) != 0 {
		t.Fatalf("err = %v, sleeps %v", err, *sleeps)
	}
}

func TestDownloaderRefusesDowngradeRedirect(t *testing.T) {
	img := testImage(1000, 7)
	m := newMirror(t, img)
	m.body = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/fw.img", http.StatusFound)
	}
	d, _ := m.downloader(t, nil)
	if _, err := d.Open(context.Background(), m.manifest(img), 0); !errors.Is(err, ErrDownload) {
		t.Fatalf("err = %v", err)
	}
	man := m.manifest(img)
	man.URL = strings.Replace(man.URL, "https", "http", 1)
	if _, err := d.Open(context.Background(), man, 0); !errors.Is(err, ErrDownload) {
		t.Fatalf("plain http: %v", err)
	}
}

// TestMaliciousMirrorOverHTTPS runs the updater against mirrors serving
// wrong, endless and short images.
func TestMaliciousMirrorOverHTTPS(t *testing.T) {
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(700_000, 0x22)
	for name, body := range map[string]func(w http.ResponseWriter, r *http.Request){
		"wrong bytes": func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(testImage(700_000, 0x23)))
		},
		"endless": func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 32<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"short": func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(img[:500_000]))
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := newMirror(t, img)
			m.body = body
			d := newDevice(t, f, "")
			d.provision()
			man := m.manifest(img)
			man.ManifestVersion, man.SecurityVersion = 2, 2
			dl, _ := m.downloader(t, nil)
			st, err := d.updater(nil).Install(context.Background(), nil, f.sign(man), dl)
			if !errors.Is(err, ErrImageDigest) && !errors.Is(err, ErrImageTooLong) && !errors.Is(err, ErrImageTruncated) {
				t.Fatalf("err = %v", err)
			}
			if st.State == StateInstalled || d.counterValue() != 1 {
				t.Fatalf("status %+v", st)
			}
			if slot, _ := d.boot.Boot(); slot != SlotA {
				t.Fatalf("booted %s", slot)
			}
		})
	}
}

func TestUpdaterOverHTTPSWithResume(t *testing.T) {
	f := newFixture(t, 1, 1, 1, 1)
	img := testImage(700_000, 0x22)
	m := newMirror(t, img)
	m.cutAfter, m.cutN = 250_000, 1
	d := newDevice(t, f, "")
	d.provision()
	man := m.manifest(img)
	man.ManifestVersion, man.SecurityVersion = 2, 2
	dl, _ := m.downloader(t, nil)
	st, err := d.updater(nil).Install(context.Background(), nil, f.sign(man), dl)
	if err != nil || st.State != StateInstalled {
		t.Fatalf("status %+v %v", st, err)
	}
	d.boot.Boot()
	if st, err := d.updater(nil).Resume(context.Background()); err != nil || st.State != StateCommitted {
		t.Fatalf("status %+v %v", st, err)
	}
}
