package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/spf13/cobra"
)

func newKeygenCmd() *cobra.Command {
	var alg, out, device string
	cmd := &cobra.Command{
		Use:   "keygen --alg ES256|EdDSA --out PREFIX [--device UUID]",
		Short: "Generate a device signing key as JWK files",
		Long: `Generate a device signing key: PREFIX.jwk holds the private JWK (file
mode 0600) and PREFIX.pub.jwk the public JWK to register with verifiers.
The JWK "kid" is the device UUID: --device, or a new random one. Existing
files are never overwritten.

Prints the device UUID and both paths. Keep PREFIX.jwk secret; in
production generate the key inside the device's secure element instead.

Exit status: 0 success, 1 a file already exists or cannot be written,
2 usage error.`,
		Example: `  iomt keygen --alg ES256 --out device1
  iomt keygen --alg EdDSA --device 6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70 --out dev`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := telemetry.ParseAlgorithm(alg)
			if err != nil {
				return usagef("--alg must be ES256 or EdDSA")
			}
			if out == "" {
				return usagef("--out PREFIX is required")
			}
			var dev iomt.DeviceID
			if device != "" {
				if dev, err = iomt.ParseDeviceID(device); err != nil {
					return usagef("--device must be a canonical lowercase version 4 or 7 UUID")
				}
			} else if dev, err = iomt.NewDeviceID(rand.Reader); err != nil {
				return err
			}
			key, err := telemetry.GenerateKey(a, rand.Reader)
			if err != nil {
				return err
			}
			priv, err := telemetry.MarshalPrivateJWK(key, dev)
			if err != nil {
				return err
			}
			pub, err := telemetry.MarshalPublicJWK(key.Public(), dev)
			if err != nil {
				return err
			}
			privPath, pubPath := out+".jwk", out+".pub.jwk"
			for _, p := range []string{privPath, pubPath} {
				if _, err := os.Lstat(p); err == nil {
					return checkFailed("exists", fmt.Errorf("%s already exists; refusing to overwrite a key", p))
				}
			}
			if err := writeNew(privPath, append(priv, '\n'), 0o600); err != nil {
				return checkFailed("write", err)
			}
			if err := writeNew(pubPath, append(pub, '\n'), 0o644); err != nil {
				os.Remove(privPath)
				return checkFailed("write", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %s\nprivate %s\npublic %s\n", dev, privPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&alg, "alg", "", "signature algorithm: ES256 (P-256) or EdDSA (Ed25519)")
	cmd.Flags().StringVar(&out, "out", "", "output path prefix: writes PREFIX.jwk and PREFIX.pub.jwk")
	cmd.Flags().StringVar(&device, "device", "", "device UUID used as the key ID (default: a new random UUID)")
	return cmd
}

// writeNew creates path exclusively with mode perm, writes b and fsyncs.
func writeNew(path string, b []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists", path)
		}
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
