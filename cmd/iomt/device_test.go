package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"net/http/httptest"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
	"github.com/openiomt/sdk/provisioning/registry/memory"
)

func TestDeviceEnroll(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	if code, _, stderr := runCLI(t, "", "ca", "init", "--dir", caDir); code != 0 {
		t.Fatal(stderr)
	}
	ca, err := loadCA(caDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	reg := memory.New(memory.Config{})
	provKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer, _ := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: provKey})
	verifier, _ := provisioning.NewTokenVerifier(provisioning.TokenVerifierConfig{Key: &provKey.PublicKey})
	h, err := enroll.NewServer(enroll.ServerConfig{CA: ca, Tokens: verifier, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.StartTLS()
	srvCert := srv.TLS.Certificates[0]
	srv.Close()
	srv = httptest.NewUnstartedServer(h)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.Certificate())
	srv.TLS, _ = provisioning.NewServerTLSConfig(provisioning.ServerTLSConfig{Certificate: srvCert, ClientCAs: clientCAs, Revocation: reg, OptionalClientCert: true})
	srv.StartTLS()
	defer srv.Close()
	serverCA := filepath.Join(dir, "server-ca.pem")
	os.WriteFile(serverCA, provisioning.MarshalCertificatesPEM([]*x509.Certificate{srv.Certificate()}), 0o644)

	dev, _ := iomt.NewDeviceID(nil)
	pat, _ := iomt.NewPatientID(nil)
	if err := reg.Register(ctx, dev, nil); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := issuer.Issue(dev, pat)
	tokFile := filepath.Join(dir, "token.jwt")
	os.WriteFile(tokFile, []byte(tok+"\n"), 0o600)
	store := filepath.Join(dir, "dev")
	args := []string{"device", "enroll", "--store", store, "--url", srv.URL, "--token-file", tokFile, "--server-ca", serverCA, "--device", dev.String()}
	code, out, stderr := runCLI(t, "", args...)
	if code != 0 || !strings.HasPrefix(out, "enrolled "+dev.String()) {
		t.Fatalf("enroll: %d %q %q", code, out, stderr)
	}
	if d, _ := reg.Lookup(ctx, dev); d.Status != provisioning.StatusActive || d.Patient != pat {
		t.Fatalf("registry: %v", d.Status)
	}
	// The same token again: the server refuses, exit 1 naming its code.
	code, _, stderr = runCLI(t, "", args...)
	if code != exitFailed || !strings.HasPrefix(stderr, "iomt: token_replayed:") {
		t.Fatalf("replay: %d %q", code, stderr)
	}
	// Rotation over mutual TLS.
	before, _ := (&provisioning.FileStore{Dir: store}).Load(ctx)
	code, _, stderr = runCLI(t, "", "device", "enroll", "--store", store, "--url", srv.URL, "--rotate", "--server-ca", serverCA, "--alg", "EdDSA")
	if code != 0 {
		t.Fatalf("rotate: %d %q", code, stderr)
	}
	after, _ := (&provisioning.FileStore{Dir: store}).Load(ctx)
	if after.Chain[0].SerialNumber.Cmp(before.Chain[0].SerialNumber) == 0 {
		t.Fatal("rotation did not replace the certificate")
	}
	if code, _, _ := runCLI(t, "", "device", "enroll", "--store", store); code != exitUsage {
		t.Fatalf("missing flags: %d", code)
	}
}
