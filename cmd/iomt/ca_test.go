package main

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openiomt/sdk/provisioning"
)

func TestCAInitIssue(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	code, out, stderr := runCLI(t, "", "ca", "init", "--dir", ca, "--name", "bench CA")
	if code != 0 || strings.TrimSpace(out) != filepath.Join(ca, "ca.pem") {
		t.Fatalf("ca init: %d %q %q", code, out, stderr)
	}
	if st, _ := os.Stat(filepath.Join(ca, "ca.key.pem")); st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v", st.Mode().Perm())
	}
	if code, _, stderr := runCLI(t, "", "ca", "init", "--dir", ca); code != exitFailed || !strings.Contains(stderr, "exists") {
		t.Fatalf("second ca init: %d %q", code, stderr)
	}

	store := filepath.Join(dir, "dev")
	code, csr, stderr := runCLI(t, "", "device", "init", "--store", store, "--alg", "EdDSA")
	if code != 0 || !strings.Contains(csr, "CERTIFICATE REQUEST") {
		t.Fatalf("device init: %d %q", code, stderr)
	}
	csrPath := filepath.Join(dir, "dev.csr")
	os.WriteFile(csrPath, []byte(csr), 0o600)
	id, err := (&provisioning.FileStore{Dir: store}).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	code, chainPEM, stderr := runCLI(t, "", "ca", "issue", "--dir", ca, "--csr", csrPath, "--device", id.Device.String())
	if code != 0 {
		t.Fatalf("ca issue: %d %q", code, stderr)
	}
	chain, err := provisioning.ParseCertificatesPEM([]byte(chainPEM))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(ca, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}
	if got, _ := provisioning.DeviceIDFromCertificate(chain[0]); got != id.Device {
		t.Fatal("issued certificate names another device")
	}

	// A CSR for another device than the one claimed.
	other := "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
	code, _, stderr = runCLI(t, "", "ca", "issue", "--dir", ca, "--csr", csrPath, "--device", other)
	if code != exitFailed || !strings.HasPrefix(stderr, "iomt: device:") {
		t.Fatalf("mismatched device: %d %q", code, stderr)
	}
	// Garbage CSR and usage errors.
	os.WriteFile(csrPath, []byte("junk"), 0o600)
	if code, _, stderr := runCLI(t, "", "ca", "issue", "--dir", ca, "--csr", csrPath); code != exitFailed || !strings.HasPrefix(stderr, "iomt: csr:") {
		t.Fatalf("garbage CSR: %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "", "ca", "issue", "--dir", ca); code != exitUsage {
		t.Fatalf("missing --csr: %d", code)
	}
	if code, _, _ := runCLI(t, "", "ca", "init"); code != exitUsage {
		t.Fatalf("missing --dir: %d", code)
	}
}

func TestCAIntermediate(t *testing.T) {
	dir := t.TempDir()
	root, line := filepath.Join(dir, "root"), filepath.Join(dir, "line3")
	if code, _, stderr := runCLI(t, "", "ca", "init", "--dir", root); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := runCLI(t, "", "ca", "init", "--dir", line, "--parent", root, "--name", "line 3"); code != 0 {
		t.Fatal(stderr)
	}
	store := filepath.Join(dir, "dev")
	_, csr, _ := runCLI(t, "", "device", "init", "--store", store)
	csrPath := filepath.Join(dir, "dev.csr")
	os.WriteFile(csrPath, []byte(csr), 0o600)
	code, chainPEM, stderr := runCLI(t, "", "ca", "issue", "--dir", line, "--csr", csrPath)
	if code != 0 {
		t.Fatal(stderr)
	}
	chain, err := provisioning.ParseCertificatesPEM([]byte(chainPEM))
	if err != nil || len(chain) != 2 {
		t.Fatalf("chain of %d certificates: %v", len(chain), err)
	}
	rootPEM, _ := os.ReadFile(filepath.Join(root, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	inter := x509.NewCertPool()
	inter.AddCert(chain[1])
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("device certificate does not verify through the intermediate: %v", err)
	}
	if code, _, _ := runCLI(t, "", "ca", "init", "--dir", filepath.Join(dir, "x"), "--parent", filepath.Join(dir, "missing")); code == 0 {
		t.Fatal("missing parent accepted")
	}
}

func TestCACRL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	if code, _, stderr := runCLI(t, "", "ca", "init", "--dir", dir); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := runCLI(t, "", "ca", "crl", "--dir", dir, "--number", "3", "--serial", "4f3a", "--serial", "0x10")
	if code != 0 {
		t.Fatal(stderr)
	}
	blk, _ := pem.Decode([]byte(out))
	ca, err := loadCA(dir, 0)
	if err != nil || blk == nil {
		t.Fatalf("no CRL PEM: %v", err)
	}
	l, err := provisioning.ParseCRL(blk.Bytes, ca.Certificate(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !l.Revoked(big.NewInt(0x4f3a)) || !l.Revoked(big.NewInt(0x10)) {
		t.Fatal("CRL lacks a serial")
	}
	if code, _, _ := runCLI(t, "", "ca", "crl", "--dir", dir, "--number", "4", "--serial", "xyz"); code != exitUsage {
		t.Fatalf("bad serial: exit %d", code)
	}
}
