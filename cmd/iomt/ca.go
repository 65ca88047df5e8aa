package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca.key.pem"
)

func newCACmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ca",
		Short: "Manufacturer certificate authority: create it, issue device certificates",
		Long: `The manufacturer CA issues the short-lived device certificates devices use for
mutual TLS. A CA directory holds ca.pem (the CA certificate, public) and
ca.key.pem (its ECDSA P-256 key, mode 0600; keep it offline or in an HSM in
production).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(newCAInitCmd(), newCAIssueCmd(), newCACRLCmd())
	return c
}

func newCAInitCmd() *cobra.Command {
	var dir, name, org, parent string
	var validity time.Duration
	c := &cobra.Command{
		Use:   "init --dir DIR [--name NAME] [--org ORG] [--validity DUR] [--parent DIR]",
		Short: "Create a CA: DIR/ca.pem and DIR/ca.key.pem",
		Long: `Create a CA with a new ECDSA P-256 key: a self-signed root, or with
--parent an intermediate signed by the CA in that directory (for example one
per factory line, so a compromised line can be cut off without replacing the
root). An intermediate's ca.pem holds its certificate followed by its
parent's chain without the root; devices send it after their own. DIR is
created with mode 0700 and the key written with mode 0600; an existing key
is never overwritten (exit 1). Prints the path of the CA certificate.`,
		Example: `  iomt ca init --dir ./root --name "Acme device root CA" --validity 87600h
  iomt ca init --dir ./line3 --parent ./root --name "Acme factory line 3" --validity 43800h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usagef("--dir is required")
			}
			if validity < 0 {
				return usagef("--validity must be positive")
			}
			keyPath := filepath.Join(dir, caKeyFile)
			if _, err := os.Stat(keyPath); err == nil {
				return checkFailed("exists", fmt.Errorf("%s already exists; refusing to overwrite a CA key", keyPath))
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			chain := []*x509.Certificate{}
			var cert *x509.Certificate
			if parent == "" {
				cert, err = provisioning.CreateRootCA(key, provisioning.CAOptions{Name: name, Organization: org, Validity: validity, MaxPathLen: 1})
			} else {
				var p *provisioning.CA
				if p, err = loadCA(parent, 0); err != nil {
					return err
				}
				cert, err = provisioning.CreateIntermediateCA(p, key.Public(), provisioning.CAOptions{Name: name, Organization: org, Validity: validity})
				chain = p.Chain()
			}
			if err != nil {
				return checkFailed("ca", err)
			}
			chain = append([]*x509.Certificate{cert}, chain...)
			keyPEM, err := provisioning.MarshalPrivateKeyPEM(key)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			if err := provisioning.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
				return err
			}
			certPath := filepath.Join(dir, caCertFile)
			if err := provisioning.WriteFileAtomic(certPath, provisioning.MarshalCertificatesPEM(chain), 0o644); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), certPath)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "CA directory to create")
	c.Flags().StringVar(&name, "name", "openiomt device CA", "subject common name of the CA")
	c.Flags().StringVar(&org, "org", "", "subject organisation of the CA")
	c.Flags().StringVar(&parent, "parent", "", "CA directory that signs this CA as an intermediate")
	c.Flags().DurationVar(&validity, "validity", 10*365*24*time.Hour, "CA certificate validity")
	return c
}

func newCAIssueCmd() *cobra.Command {
	var dir, csrPath, device, out string
	var validity time.Duration
	c := &cobra.Command{
		Use:   "issue --dir DIR --csr FILE [--device UUID] [--validity DUR] [-o FILE]",
		Short: "Issue a device certificate from a CSR",
		Long: `Issue a device certificate from a PKCS #10 CSR (PEM or DER). The CSR must name
its device UUID as subject CN and as urn:uuid URI SAN. With --device the CSR
must name exactly that device (exit 1 with rule "device" otherwise). Prints
the certificate chain (PEM) to stdout or -o FILE.`,
		Example: `  iomt ca issue --dir ./ca --csr device.csr --device 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f -o device.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || csrPath == "" {
				return usagef("--dir and --csr are required")
			}
			b, err := readLimited(csrPath, 64<<10)
			if err != nil {
				return err
			}
			der := b
			if blk, _ := pem.Decode(b); blk != nil {
				if blk.Type != "CERTIFICATE REQUEST" {
					return checkFailed("csr", errors.New("PEM block is not a CERTIFICATE REQUEST"))
				}
				der = blk.Bytes
			}
			_, csrDevice, err := provisioning.ParseCSR(der)
			if err != nil {
				return checkFailed("csr", err)
			}
			want := csrDevice
			if device != "" {
				if want, err = iomt.ParseDeviceID(device); err != nil {
					return usagef("--device: %v", err)
				}
			}
			ca, err := loadCA(dir, validity)
			if err != nil {
				return err
			}
			chain, err := ca.Issue(der, want)
			if err != nil {
				if errors.Is(err, provisioning.ErrDeviceMismatch) {
					return checkFailed("device", err)
				}
				return checkFailed("issue", err)
			}
			return writeProvOutput(cmd, out, provisioning.MarshalCertificatesPEM(chain), 0o644)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "CA directory (from iomt ca init)")
	c.Flags().StringVar(&csrPath, "csr", "", "certificate request file, PEM or DER")
	c.Flags().StringVar(&device, "device", "", "device UUID the CSR must name")
	c.Flags().DurationVar(&validity, "validity", provisioning.DefaultCertificateValidity, "device certificate validity")
	c.Flags().StringVarP(&out, "out", "o", "", "output file (default stdout)")
	return c
}

func loadCA(dir string, validity time.Duration) (*provisioning.CA, error) {
	certPEM, err := readLimited(filepath.Join(dir, caCertFile), 64<<10)
	if err != nil {
		return nil, err
	}
	certs, err := provisioning.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, checkFailed("ca", fmt.Errorf("%s: %w", caCertFile, err))
	}
	keyPEM, err := readLimited(filepath.Join(dir, caKeyFile), 64<<10)
	if err != nil {
		return nil, err
	}
	key, err := provisioning.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, checkFailed("ca", fmt.Errorf("%s: %w", caKeyFile, err))
	}
	ca, err := provisioning.NewCA(certs[0], key, certs[1:], provisioning.CAConfig{Validity: validity})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return ca, nil
}

// readLimited reads at most limit bytes of path; a larger file fails.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usagef("%s: no such file", path)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, checkFailed("size", fmt.Errorf("%s is larger than %d bytes", path, limit))
	}
	b := make([]byte, st.Size())
	_, err = io.ReadFull(f, b)
	return b, err
}

func writeProvOutput(cmd *cobra.Command, path string, data []byte, perm os.FileMode) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	return provisioning.WriteFileAtomic(path, data, perm)
}

// loadPrivateKey reads an ECDSA P-256 or Ed25519 private key from a JWK
// file (as written by iomt keygen) or a PKCS #8 PEM file.
func loadPrivateKey(path string) (crypto.Signer, error) {
	b, err := readLimited(path, 64<<10)
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := provisioning.ParsePrivateKeyPEM(b)
		if err != nil {
			return nil, checkFailed("key", fmt.Errorf("%s: %w", path, err))
		}
		return k, nil
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		return nil, checkFailed("key", fmt.Errorf("%s: not a JWK or PEM private key", path))
	}
	var raw any
	if err := jwk.Export(k, &raw); err != nil {
		return nil, checkFailed("key", fmt.Errorf("%s: %w", path, err))
	}
	switch s := raw.(type) {
	case *ecdsa.PrivateKey:
		return s, nil
	case crypto.Signer:
		return s, nil
	}
	return nil, checkFailed("key", fmt.Errorf("%s: not a private key", path))
}

// loadPublicKey reads a public key from a JWK file or a PKIX PEM file; a
// private key file yields its public half.
func loadPublicKey(path string) (crypto.PublicKey, error) {
	b, err := readLimited(path, 64<<10)
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type == "PUBLIC KEY" {
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, checkFailed("key", fmt.Errorf("%s: %w", path, err))
			}
			return k, nil
		}
		s, err := loadPrivateKey(path)
		if err != nil {
			return nil, err
		}
		return s.Public(), nil
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		return nil, checkFailed("key", fmt.Errorf("%s: not a JWK or PEM key", path))
	}
	pk, err := k.PublicKey()
	if err != nil {
		return nil, checkFailed("key", fmt.Errorf("%s: %w", path, err))
	}
	var raw any
	if err := jwk.Export(pk, &raw); err != nil {
		return nil, checkFailed("key", fmt.Errorf("%s: %w", path, err))
	}
	return raw, nil
}

func newCACRLCmd() *cobra.Command {
	var dir, out string
	var serials []string
	var number int64
	var validity time.Duration
	c := &cobra.Command{
		Use:   "crl --dir DIR --number N [--serial HEX]... [--validity DUR] [-o FILE]",
		Short: "Sign a certificate revocation list (PEM) for brokers and TLS servers",
		Long: `Sign an X.509 CRL listing the revoked device certificate serials (hex, as in
the registry or "openssl x509 -serial"). Brokers such as Mosquitto load it
with crlfile; reload the broker after each update. --number must grow with
every CRL issued. Prints PEM to stdout or -o FILE.`,
		Example: `  iomt ca crl --dir ./ca --number 7 --serial 4f3a... --validity 24h -o devices.crl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || number <= 0 {
				return usagef("--dir and a positive --number are required")
			}
			if validity <= 0 {
				return usagef("--validity must be positive")
			}
			var list []*big.Int
			for _, s := range serials {
				v, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x"), 16)
				if !ok || v.Sign() <= 0 {
					return usagef("--serial %q is not a positive hex number", s)
				}
				list = append(list, v)
			}
			ca, err := loadCA(dir, 0)
			if err != nil {
				return err
			}
			der, err := ca.CreateCRL(list, big.NewInt(number), validity)
			if err != nil {
				return checkFailed("crl", err)
			}
			return writeProvOutput(cmd, out, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "CA directory")
	c.Flags().Int64Var(&number, "number", 0, "CRL number, increasing")
	c.Flags().StringArrayVar(&serials, "serial", nil, "revoked certificate serial in hex (repeatable)")
	c.Flags().DurationVar(&validity, "validity", 24*time.Hour, "time until the next CRL is due")
	c.Flags().StringVarP(&out, "out", "o", "", "output file (default stdout)")
	return c
}
