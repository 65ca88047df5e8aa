package provisioning_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

func TestCSRRoundTrip(t *testing.T) {
	for _, alg := range []provisioning.KeyAlgorithm{"", provisioning.ES256, provisioning.EdDSA} {
		key, err := provisioning.GenerateKey(alg, nil)
		if err != nil {
			t.Fatal(err)
		}
		dev := newDevice(t)
		der, err := provisioning.NewCSR(dev, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		csr, got, err := provisioning.ParseCSR(der)
		if err != nil {
			t.Fatalf("%s: ParseCSR: %v", alg, err)
		}
		if got != dev || csr.Subject.CommonName != dev.String() || csr.URIs[0].String() != "urn:uuid:"+dev.String() {
			t.Fatalf("%s: CSR names %v", alg, got)
		}
	}
	if _, err := provisioning.GenerateKey("RS256", nil); !errors.Is(err, provisioning.ErrUnsupportedKey) {
		t.Fatalf("RS256: %v", err)
	}
}

func TestParseCSRRejects(t *testing.T) {
	key := newP256(t)
	dev := newDevice(t)
	other := newDevice(t)
	mk := func(tmpl *x509.CertificateRequest, k any) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	u := func(id iomt.DeviceID) *url.URL { return &url.URL{Scheme: "urn", Opaque: "uuid:" + id.String()} }
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	good := mk(&x509.CertificateRequest{Subject: pkix.Name{CommonName: dev.String()}, URIs: []*url.URL{u(dev)}}, key)
	tampered := bytes.Clone(good)
	tampered[len(tampered)-5] ^= 0xff
	for name, tc := range map[string]struct {
		der  []byte
		want error
	}{
		"CN and SAN differ": {mk(&x509.CertificateRequest{Subject: pkix.Name{CommonName: dev.String()}, URIs: []*url.URL{u(other)}}, key), provisioning.ErrInvalidCSR},
		"no SAN":            {mk(&x509.CertificateRequest{Subject: pkix.Name{CommonName: dev.String()}}, key), provisioning.ErrInvalidCSR},
		"extra DNS SAN":     {mk(&x509.CertificateRequest{Subject: pkix.Name{CommonName: dev.String()}, URIs: []*url.URL{u(dev)}, DNSNames: []string{"broker.example"}}, key), provisioning.ErrInvalidCSR},
		"CN not a UUID":     {mk(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "admin"}, URIs: []*url.URL{u(dev)}}, key), provisioning.ErrInvalidCSR},
		"P-384 key":         {mk(&x509.CertificateRequest{Subject: pkix.Name{CommonName: dev.String()}, URIs: []*url.URL{u(dev)}}, p384), provisioning.ErrUnsupportedKey},
		"bad signature":     {tampered, provisioning.ErrInvalidCSR},
		"garbage":           {[]byte("not DER"), provisioning.ErrMalformed},
		"oversize":          {make([]byte, provisioning.MaxCSRSize+1), provisioning.ErrTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := provisioning.ParseCSR(tc.der)
			if !errors.Is(err, tc.want) && !errors.Is(err, provisioning.ErrMalformed) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := &clock{t0}
	ca := newTestCA(t, c)
	dir := filepath.Join(t.TempDir(), "id")
	s := &provisioning.FileStore{Dir: dir}
	if _, err := s.Load(ctx); !errors.Is(err, provisioning.ErrNoIdentity) {
		t.Fatalf("empty store: %v", err)
	}
	key, _ := provisioning.GenerateKey(provisioning.EdDSA, nil)
	dev := newDevice(t)
	csr, _ := provisioning.NewCSR(dev, key, nil)
	chain, err := ca.Issue(csr, dev)
	if err != nil {
		t.Fatal(err)
	}
	id := &provisioning.Identity{Device: dev, Key: key, Chain: chain, Patient: newPatient(t),
		BrokerURL: "mqtts://broker.example:8883", EnrollmentURL: "https://enroll.example"}
	if err := s.Save(ctx, id); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Device != id.Device || got.Patient != id.Patient || got.BrokerURL != id.BrokerURL ||
		got.EnrollmentURL != id.EnrollmentURL || len(got.Chain) != 1 || !got.Chain[0].Equal(chain[0]) {
		t.Fatalf("round trip changed the identity")
	}
	if !got.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Fatal("key changed")
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", st.Mode().Perm())
	}
	st, _ = os.Stat(filepath.Join(dir, "identity.json"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %d entries", len(entries))
	}
	if _, err := got.TLSCertificate(); err != nil {
		t.Fatal(err)
	}
	// Corrupt and oversize files fail with typed errors.
	os.WriteFile(filepath.Join(dir, "identity.json"), []byte("{"), 0o600)
	if _, err := s.Load(ctx); !errors.Is(err, provisioning.ErrMalformed) {
		t.Fatalf("corrupt file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "identity.json"), make([]byte, provisioning.MaxIdentityFileSize+1), 0o600)
	if _, err := s.Load(ctx); !errors.Is(err, provisioning.ErrTooLarge) {
		t.Fatalf("oversize file: %v", err)
	}
}

func TestIdentityLogValueRedactsKey(t *testing.T) {
	key := newP256(t)
	pat := newPatient(t)
	id := &provisioning.Identity{Device: newDevice(t), Key: key, Patient: pat}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("identity", "id", id)
	if strings.Contains(b.String(), key.D.String()) || strings.Contains(b.String(), pat.String()) {
		t.Fatalf("log leaks key or patient: %s", b.String())
	}
	if !strings.Contains(b.String(), id.Device.String()) {
		t.Fatalf("log lacks the device: %s", b.String())
	}
}
