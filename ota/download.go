package ota

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// ErrDownload: the image could not be fetched (HTTP status, too many
// failed attempts, or a server that ignores the requested range). See
// [DownloadError].
var ErrDownload = errors.New("ota: download failed")

// DownloadError carries the details of a failed download. It wraps
// [ErrDownload] and, when present, the last underlying error.
type DownloadError struct {
	StatusCode int // last HTTP status, 0 if none
	Attempts   int // requests made
	Err        error
}

func (e *DownloadError) Error() string {
	s := fmt.Sprintf("ota: download failed after %d attempt(s)", e.Attempts)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(", HTTP status %d", e.StatusCode)
	}
	if e.Err != nil {
		s += ": " + trimPrefix(e.Err.Error())
	}
	return s
}

// Unwrap returns ErrDownload and the underlying error.
func (e *DownloadError) Unwrap() []error { return []error{ErrDownload, e.Err} }

// DownloaderConfig configures a [Downloader]. The zero value works: a
// private TLS 1.2+ client, 5 retries, backoff from 500 ms to 30 s.
type DownloaderConfig struct {
	// Client makes the requests. Nil means a new client with TLS 1.2 as
	// minimum and a 30 s response-header timeout (never
	// http.DefaultClient). Redirects to non-https URLs are always refused.
	Client *http.Client
	// MaxRetries bounds consecutive failed attempts (network errors, HTTP
	// 408, 429 and 5xx) without progress; a request that delivers bytes
	// resets the count. Zero means 5; negative means no retries.
	MaxRetries int
	// BaseDelay and MaxDelay bound the exponential backoff; each wait is
	// drawn uniformly from [0, min(MaxDelay, BaseDelay·2^attempt)] ("full
	// jitter"), so a fleet does not retry in lockstep. Zero means 500 ms
	// and 30 s.
	BaseDelay, MaxDelay time.Duration
	// Rand draws the jitter. Nil means a generator seeded from the
	// runtime's random source.
	Rand *rand.Rand
	// Sleep waits between attempts. Nil means a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Progress, if set, is called after each read with bytes of the image
	// obtained so far (including the resume offset) and the total length.
	Progress func(done, total int64)
	// UserAgent is sent when set.
	UserAgent string
}

// Downloader fetches images over HTTPS with Range resume. It implements
// [ImageSource] for the [Updater]. It verifies nothing itself: the bytes go
// through the [Verifier]. Safe for concurrent use.
type Downloader struct {
	cfg    DownloaderConfig
	randMu sync.Mutex // guards cfg.Rand, which is not safe for concurrent use
}

var _ ImageSource = (*Downloader)(nil)

// NewDownloader returns a Downloader with cfg's defaults filled in.
func NewDownloader(cfg DownloaderConfig) *Downloader {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       60 * time.Second,
		}}
	}
	c := *cfg.Client
	prev := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect to a non-https URL", ErrDownload)
		}
		if prev != nil {
			return prev(req, via)
		}
		if len(via) >= 5 {
			return fmt.Errorf("%w: too many redirects", ErrDownload)
		}
		return nil
	}
	cfg.Client = &c
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 5
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = 500 * time.Millisecond
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 30 * time.Second
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	return &Downloader{cfg: cfg}
}

// Open implements [ImageSource]: it returns a reader of m's image from
// offset on. Reads past a failure transparently re-request the remaining
// bytes with a Range header (and If-Range, so a changed object restarts
// rather than mixes). The reader yields at most one byte beyond the
// manifest's length, enough for the caller to detect an oversized image.
func (d *Downloader) Open(ctx context.Context, m *Manifest, offset int64) (io.ReadCloser, error) {
	if m == nil || m.URL == "" {
		return nil, &DownloadError{Err: &FieldError{Doc: "manifest", Field: "url"}}
	}
	u, err := url.Parse(m.URL)
	if err != nil || u.Scheme != "https" {
		return nil, &DownloadError{Err: &FieldError{Doc: "manifest", Field: "url"}}
	}
	if offset < 0 || offset > m.Length {
		return nil, &DownloadError{Err: &FieldError{Doc: "download", Field: "offset"}}
	}
	r := &rangeReader{d: d, ctx: ctx, url: u.String(), pos: offset, end: m.Length + 1, total: m.Length}
	if err := r.connect(); err != nil {
		return nil, err
	}
	return r, nil
}

// rangeReader reads [pos, end) and reconnects on failure.
type rangeReader struct {
	d         *Downloader
	ctx       context.Context
	url       string
	pos, end  int64
	total     int64
	body      io.ReadCloser
	validator string // ETag or Last-Modified for If-Range
	failures  int
	attempts  int
	closed    bool
}

func retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// connect issues requests until one starts delivering bytes at pos, or
// the retry budget is spent.
func (r *rangeReader) connect() error {
	for {
		code, err := r.request()
		if err == nil {
			return nil
		}
		var de *DownloadError
		if errors.As(err, &de) {
			return err
		}
		if r.ctx.Err() != nil {
			return &DownloadError{StatusCode: code, Attempts: r.attempts, Err: r.ctx.Err()}
		}
		if (code != 0 && !retryable(code)) || r.failures >= r.d.cfg.MaxRetries {
			return &DownloadError{StatusCode: code, Attempts: r.attempts, Err: err}
		}
		if err := r.d.cfg.Sleep(r.ctx, r.backoff()); err != nil {
			return &DownloadError{StatusCode: code, Attempts: r.attempts, Err: err}
		}
		r.failures++
	}
}

func (r *rangeReader) backoff() time.Duration {
	d := r.d.cfg.BaseDelay << min(r.failures, 30)
	if d <= 0 || d > r.d.cfg.MaxDelay {
		d = r.d.cfg.MaxDelay
	}
	r.d.randMu.Lock()
	defer r.d.randMu.Unlock()
	return time.Duration(r.d.cfg.Rand.Int64N(int64(d) + 1))
}

var errStatus = errors.New("unexpected HTTP status")

// request performs one GET for [pos, end). It returns the HTTP status
// (0 for transport errors) and an error; a *DownloadError is final.
func (r *rangeReader) request() (int, error) {
	r.attempts++
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return 0, &DownloadError{Attempts: r.attempts, Err: err}
	}
	if r.pos > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.pos, 10)+"-")
		if r.validator != "" {
			req.Header.Set("If-Range", r.validator)
		}
	}
	req.Header.Set("Accept-Encoding", "identity")
	if r.d.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", r.d.cfg.UserAgent)
	}
	resp, err := r.d.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && r.pos > 0:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != r.pos {
			resp.Body.Close()
			return resp.StatusCode, &DownloadError{StatusCode: resp.StatusCode, Attempts: r.attempts,
				Err: errors.New("server answered a different range")}
		}
	case resp.StatusCode == http.StatusOK:
		// No range support, or the object changed (If-Range): skip what we
		// have. A changed object then fails the digest check.
		if r.pos > 0 {
			if _, err := io.CopyN(io.Discard, resp.Body, r.pos); err != nil {
				resp.Body.Close()
				return 0, err
			}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		// The object is shorter than pos: nothing more to read.
		r.body = http.NoBody
		return 0, nil
	default:
		resp.Body.Close()
		return resp.StatusCode, fmt.Errorf("%w %d", errStatus, resp.StatusCode)
	}
	if v := resp.Header.Get("ETag"); v != "" && len(v) < 256 && v[0] == '"' {
		r.validator = v
	} else if v := resp.Header.Get("Last-Modified"); v != "" && len(v) < 64 {
		r.validator = v
	}
	r.body = resp.Body
	return resp.StatusCode, nil
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(h string) (int64, bool) {
	const p = "bytes "
	if len(h) <= len(p) || h[:len(p)] != p {
		return 0, false
	}
	h = h[len(p):]
	for i := 0; i < len(h); i++ {
		if h[i] == '-' {
			v, err := strconv.ParseInt(h[:i], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// Read implements io.Reader.
func (r *rangeReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("%w: read after close", ErrDownload)
	}
	for {
		if r.pos >= r.end {
			return 0, io.EOF
		}
		if int64(len(p)) > r.end-r.pos {
			p = p[:r.end-r.pos]
		}
		n, err := r.body.Read(p)
		if n > 0 {
			r.pos += int64(n)
			r.failures = 0
			if r.d.cfg.Progress != nil {
				r.d.cfg.Progress(min(r.pos, r.total), r.total)
			}
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			r.body.Close()
			r.body = http.NoBody
			return 0, io.EOF
		}
		if err == nil {
			continue
		}
		// Interrupted mid-body: reconnect from pos.
		r.body.Close()
		r.body = http.NoBody
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
		if r.failures >= r.d.cfg.MaxRetries {
			return 0, &DownloadError{Attempts: r.attempts, Err: err}
		}
		if serr := r.d.cfg.Sleep(r.ctx, r.backoff()); serr != nil {
			return 0, serr
		}
		r.failures++
		if cerr := r.connect(); cerr != nil {
			return 0, cerr
		}
	}
}

// Close implements io.Closer.
func (r *rangeReader) Close() error {
	r.closed = true
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}
