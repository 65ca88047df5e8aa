package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MosquittoConfig configures a test-spawned Mosquitto. The zero value is a
// plain listener with anonymous access and persistence on.
type MosquittoConfig struct {
	// CAFile, CertFile and KeyFile, when CertFile is set, turn the listener
	// into TLS (PEM files). RequireCertificate then demands a client
	// certificate signed by CAFile; UseIdentityAsUsername maps its CN to the
	// MQTT username.
	CAFile, CertFile, KeyFile string
	RequireCertificate        bool
	UseIdentityAsUsername     bool
	// Extra is appended to the generated configuration verbatim.
	Extra string
}

// Mosquitto is a broker process owned by one test, on a free loopback port.
// It is stopped when the test ends.
type Mosquitto struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	t    testing.TB
	bin  string
	dir  string
	conf string
	cmd  *exec.Cmd
}

// StartMosquitto starts mosquitto with cfg on a free 127.0.0.1 port and waits
// until it accepts connections.
func StartMosquitto(t testing.TB, cfg MosquittoConfig) *Mosquitto {
	t.Helper()
	bin := MosquittoBin(t)
	dir := t.TempDir()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	var c strings.Builder
	fmt.Fprintf(&c, "user root\npersistence true\npersistence_location %s/\nautosave_interval 1\n", dir)
	fmt.Fprintf(&c, "log_dest file %s\nlog_type error\nlog_type warning\nlog_type notice\n", filepath.Join(dir, "mosquitto.log"))
	fmt.Fprintf(&c, "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n", port)
	if cfg.CertFile != "" {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\ntls_version tlsv1.2\n", cfg.CAFile, cfg.CertFile, cfg.KeyFile)
		if cfg.RequireCertificate {
			c.WriteString("require_certificate true\n")
		}
		if cfg.UseIdentityAsUsername {
			c.WriteString("use_identity_as_username true\n")
		}
	}
	c.WriteString(cfg.Extra)
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(c.String()), 0o600); err != nil {
		t.Fatalf("testenv: write mosquitto config: %v", err)
	}
	m := &Mosquitto{Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t, bin: bin, dir: dir, conf: conf}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Start starts the broker again after Stop or Kill, on the same port, with the
// same persistence directory.
func (m *Mosquitto) Start() {
	m.t.Helper()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command(m.bin, "-c", m.conf)
	cmd.Dir = m.dir
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("testenv: start mosquitto: %v", err)
	}
	m.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", m.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
	m.t.Fatalf("testenv: mosquitto did not listen on %s; log:\n%s", m.Addr, log)
}

// Stop terminates the broker gracefully (SIGTERM; it saves its persistence
// file) and waits for it.
func (m *Mosquitto) Stop() { m.signal(syscall.SIGTERM) }

// Kill terminates the broker with SIGKILL, as a crash would.
func (m *Mosquitto) Kill() { m.signal(syscall.SIGKILL) }

// Restart stops the broker gracefully and starts it again.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	m.Start()
}

// Log returns the broker's log so far.
func (m *Mosquitto) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
	return string(b)
}

func (m *Mosquitto) signal(sig syscall.Signal) {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
