package httpapi_test

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openiomt/sdk/phisilo/httpapi"
)

// TestDowngradeToTLS11IsRefused: the server configuration refuses TLS
// below 1.2.
func TestDowngradeToTLS11IsRefused(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.StartTLS() // makes the test certificate
	cert := srv.TLS.Certificates[0]
	srv.Close()

	srv = httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.TLS = httpapi.TLSConfig(cert)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()

	for _, c := range []struct {
		max uint16
		ok  bool
	}{{tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
		client := srv.Client()
		tr := client.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.MinVersion = tls.VersionTLS10 // let the client offer 1.1, so the server is what refuses
		tr.TLSClientConfig.MaxVersion = c.max
		client.Transport = tr
		resp, err := client.Get(srv.URL + "/v1/audit")
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("client max version %x: err %v, want ok=%v", c.max, err, c.ok)
		}
		tr.CloseIdleConnections()
	}
	if s := httpapi.NewServer("127.0.0.1:0", f.srv.Config.Handler, cert); s.ReadHeaderTimeout == 0 || s.TLSConfig.MinVersion != tls.VersionTLS12 {
		t.Fatal("NewServer without timeouts or TLS floor")
	}
}
