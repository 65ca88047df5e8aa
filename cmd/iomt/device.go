package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
)

func newDeviceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "device",
		Short: "Act as a device: create an identity, enrol against a running server",
		Long: `Device-side provisioning for bench tests and factory stations. The identity
(key, certificate chain, patient binding) lives in a store directory
(identity.json, mode 0600, in a 0700 directory).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(newDeviceInitCmd(), newDeviceEnrollCmd())
	return c
}

func newDeviceInitCmd() *cobra.Command {
	var store, device, alg string
	c := &cobra.Command{
		Use:   "init --store DIR [--device UUID] [--alg ES256|EdDSA]",
		Short: "Create a device identity and print its CSR (PEM)",
		Long: `Create a device identity in DIR — a new key and the device UUID (random when
--device is not given) — and print a CSR for it, ready for "iomt ca issue".
An existing identity is kept and only its CSR printed.`,
		Example: `  iomt device init --store ./dev1 > dev1.csr`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if store == "" {
				return usagef("--store is required")
			}
			s := &provisioning.FileStore{Dir: store}
			id, err := s.Load(cmd.Context())
			switch {
			case errors.Is(err, provisioning.ErrNoIdentity):
				if id, err = newIdentity(device, alg); err != nil {
					return err
				}
				if err := s.Save(cmd.Context(), id); err != nil {
					return err
				}
			case err != nil:
				return checkFailed("store", err)
			case device != "" && id.Device.String() != device:
				return checkFailed("device", fmt.Errorf("store holds another device"))
			}
			csr, err := provisioning.NewCSR(id.Device, id.Key, nil)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
			return err
		},
	}
	c.Flags().StringVar(&store, "store", "", "identity store directory")
	c.Flags().StringVar(&device, "device", "", "device UUID (default: a new random one)")
	c.Flags().StringVar(&alg, "alg", "ES256", "key algorithm: ES256 or EdDSA")
	return c
}

func newIdentity(device, alg string) (*provisioning.Identity, error) {
	var dev iomt.DeviceID
	var err error
	if device == "" {
		dev, err = iomt.NewDeviceID(nil)
	} else {
		dev, err = iomt.ParseDeviceID(device)
	}
	if err != nil {
		return nil, usagef("--device: %v", err)
	}
	if alg != string(provisioning.ES256) && alg != string(provisioning.EdDSA) {
		return nil, usagef("--alg must be ES256 or EdDSA")
	}
	key, err := provisioning.GenerateKey(provisioning.KeyAlgorithm(alg), nil)
	if err != nil {
		return nil, err
	}
	return &provisioning.Identity{Device: dev, Key: key}, nil
}

func newDeviceEnrollCmd() *cobra.Command {
	var store, url, token, tokenFile, serverCA, device, alg string
	var rotate bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "enroll --store DIR --url URL (--token JWT | --token-file FILE | --rotate) --server-ca FILE",
		Short: "Enrol (or re-enrol) a device against a running enrolment server",
		Long: `Enrol the identity in DIR with an enrolment token: create a CSR, POST it with
the token to URL/v1/enroll, check the returned certificate names this
device and key, and save the chain. Without an identity in DIR one is
created (--device, --alg as for "iomt device init").

With --rotate, re-enrol instead: a new key is certified over mutual TLS with
the current certificate (URL/v1/reenroll), and the store updated.

--server-ca is the PEM file of the CA that signed the server's TLS
certificate. Refusals exit 1 naming the server's error code.`,
		Example: `  iomt device enroll --store ./dev1 --url https://enroll.example.com --token-file token.jwt --server-ca server-ca.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if store == "" || url == "" || serverCA == "" {
				return usagef("--store, --url and --server-ca are required")
			}
			if !rotate && (token == "") == (tokenFile == "") {
				return usagef("give exactly one of --token and --token-file, or --rotate")
			}
			if tokenFile != "" {
				b, err := readLimited(tokenFile, provisioning.MaxTokenSize+2)
				if err != nil {
					return err
				}
				token = strings.TrimSpace(string(b))
			}
			caPEM, err := readLimited(serverCA, 1<<20)
			if err != nil {
				return err
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(caPEM) {
				return usagef("--server-ca: no PEM certificates")
			}
			ctx := cmd.Context()
			s := &provisioning.FileStore{Dir: store}
			id, err := s.Load(ctx)
			if errors.Is(err, provisioning.ErrNoIdentity) && !rotate {
				id, err = newIdentity(device, alg)
			}
			if err != nil {
				return checkFailed("store", err)
			}
			tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
			if rotate {
				if tlsCfg, err = provisioning.DeviceTLSConfig(id, roots, ""); err != nil {
					return checkFailed("store", err)
				}
			}
			tr := &http.Transport{TLSClientConfig: tlsCfg}
			defer tr.CloseIdleConnections()
			client := &enroll.Client{BaseURL: url, HTTPClient: &http.Client{Transport: tr, Timeout: timeout}}
			if rotate {
				key, kerr := provisioning.GenerateKey(provisioning.KeyAlgorithm(alg), nil)
				if kerr != nil {
					return usagef("--alg must be ES256 or EdDSA")
				}
				err = enroll.RotateIdentity(ctx, client, id, key)
			} else {
				err = enroll.EnrollIdentity(ctx, client, id, token)
			}
			if err != nil {
				var e *enroll.Error
				if errors.As(err, &e) {
					return checkFailed(e.Code, err)
				}
				return checkFailed("enroll", err)
			}
			if err := s.Save(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled %s until %s\n", id.Device, id.Chain[0].NotAfter.UTC().Format(time.RFC3339))
			return nil
		},
	}
	c.Flags().StringVar(&store, "store", "", "identity store directory")
	c.Flags().StringVar(&url, "url", "", "enrolment server base URL (https)")
	c.Flags().StringVar(&token, "token", "", "enrolment token")
	c.Flags().StringVar(&tokenFile, "token-file", "", "file holding the enrolment token")
	c.Flags().StringVar(&serverCA, "server-ca", "", "PEM CA certificate(s) trusted for the server")
	c.Flags().StringVar(&device, "device", "", "device UUID when creating a new identity")
	c.Flags().StringVar(&alg, "alg", "ES256", "key algorithm for a new identity or rotated key: ES256 or EdDSA")
	c.Flags().BoolVar(&rotate, "rotate", false, "re-enrol with a new key using the current certificate")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "request timeout")
	return c
}
