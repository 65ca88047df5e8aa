package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

func newPairCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pair",
		Short: "Encode and decode BLE pairing payloads for bench testing a device",
		Long: `A pairing payload carries Wi-Fi credentials, the patient UUID, broker and
enrolment URLs and the enrolment token from the phone to the device. It is
signed with the cloud's provisioning key (JWS ES256) and encrypted to the
device's pairing key (JWE ECDH-ES+A256KW / A256GCM), and bound to the
one-time nonce the device offered. Keys are JWK files (iomt keygen) or PEM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(newPairEncodeCmd(), newPairDecodeCmd())
	return c
}

func newPairEncodeCmd() *cobra.Command {
	var (
		keyPath, deviceKeyPath, device, nonce, ssid, security, passFile string
		patient, broker, enrollURL, token, tokenFile, out               string
		expires, mtu                                                    int
	)
	c := &cobra.Command{
		Use:   "encode --key PROV.jwk --device-key PAIR.pub.jwk --device UUID --nonce B64URL --ssid S [--passphrase-file F] --patient UUID --broker URL --enroll-url URL (--token T | --token-file F)",
		Short: "Seal a pairing payload for a device",
		Long: `Seal a pairing payload: sign with --key (the provisioning key, ECDSA P-256)
and encrypt to --device-key (the device's pairing public key). Prints the
compact JWE, or with --mtu N the BLE frames for that MTU as hex, one per
line. The passphrase is read from a file ("-" for stdin) so that it never
appears in a process list.`,
		Example: `  iomt pair encode --key prov.jwk --device-key pair.pub.jwk --device $DEV --nonce $NONCE \
    --ssid HomeNet --passphrase-file psk.txt --patient $PAT \
    --broker mqtts://broker.example.com:8883 --enroll-url https://enroll.example.com \
    --token-file token.jwt --mtu 185`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" || deviceKeyPath == "" || device == "" || nonce == "" {
				return usagef("--key, --device-key, --device and --nonce are required")
			}
			p := provisioning.PairingPayload{SSID: ssid, Security: provisioning.WiFiSecurity(security),
				BrokerURL: broker, EnrollmentURL: enrollURL, ExpiresMinutes: expires}
			var err error
			if p.Device, err = iomt.ParseDeviceID(device); err != nil {
				return usagef("--device: %v", err)
			}
			if p.Patient, err = iomt.ParsePatientID(patient); err != nil {
				return usagef("--patient: %v", err)
			}
			if p.Nonce, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(nonce, "=")); err != nil {
				return usagef("--nonce must be base64url")
			}
			if passFile != "" {
				b, err := readSecret(cmd, passFile)
				if err != nil {
					return err
				}
				p.Passphrase = b
			}
			switch {
			case token != "" && tokenFile == "":
				p.EnrollmentToken = token
			case token == "" && tokenFile != "":
				b, err := readLimited(tokenFile, provisioning.MaxTokenSize+2)
				if err != nil {
					return err
				}
				p.EnrollmentToken = strings.TrimSpace(string(b))
			default:
				return usagef("give exactly one of --token and --token-file")
			}
			if mtu != 0 && (mtu < provisioning.MinMTU || mtu > provisioning.MaxMTU) {
				return usagef("--mtu must be %d-%d", provisioning.MinMTU, provisioning.MaxMTU)
			}
			key, err := loadPrivateKey(keyPath)
			if err != nil {
				return err
			}
			devKey, err := loadPublicKey(deviceKeyPath)
			if err != nil {
				return err
			}
			sealer, err := provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: key})
			if err != nil {
				return usagef("--key: %v", err)
			}
			sealed, err := sealer.Seal(p, devKey)
			if err != nil {
				if errors.Is(err, provisioning.ErrUnsupportedKey) {
					return usagef("%v", err)
				}
				return checkFailed("payload", err)
			}
			var buf bytes.Buffer
			if mtu == 0 {
				buf.Write(sealed)
				buf.WriteByte('\n')
			} else {
				frames, err := provisioning.SplitFrames(sealed, mtu)
				if err != nil {
					return err
				}
				for _, f := range frames {
					buf.WriteString(hex.EncodeToString(f))
					buf.WriteByte('\n')
				}
			}
			return writeProvOutput(cmd, out, buf.Bytes(), 0o600)
		},
	}
	f := c.Flags()
	f.StringVar(&keyPath, "key", "", "provisioning private key (JWK or PEM)")
	f.StringVar(&deviceKeyPath, "device-key", "", "device pairing public key (JWK or PEM)")
	f.StringVar(&device, "device", "", "device UUID (audience)")
	f.StringVar(&nonce, "nonce", "", "the device's one-time nonce, base64url")
	f.StringVar(&ssid, "ssid", "", "Wi-Fi SSID")
	f.StringVar(&security, "security", string(provisioning.WiFiWPA2), "Wi-Fi security: open, wpa2-psk or wpa3-sae")
	f.StringVar(&passFile, "passphrase-file", "", `file holding the Wi-Fi passphrase ("-" for stdin)`)
	f.StringVar(&patient, "patient", "", "patient UUID")
	f.StringVar(&broker, "broker", "", "MQTT broker URL (mqtts://)")
	f.StringVar(&enrollURL, "enroll-url", "", "enrolment server URL (https://)")
	f.StringVar(&token, "token", "", "enrolment token")
	f.StringVar(&tokenFile, "token-file", "", "file holding the enrolment token")
	f.IntVar(&expires, "expires-min", 10, fmt.Sprintf("validity in minutes (1-%d)", provisioning.MaxPairingMinutes))
	f.IntVar(&mtu, "mtu", 0, "print BLE frames for this MTU instead of the JWE")
	f.StringVarP(&out, "out", "o", "", "output file (default stdout)")
	return c
}

func readSecret(cmd *cobra.Command, path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<10))
	} else {
		b, err = readLimited(path, 1<<10)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// pairOutput is what "pair decode" prints; secrets are redacted unless
// asked for.
type pairOutput struct {
	Device        string `json:"device"`
	Patient       string `json:"patient"`
	SSID          string `json:"ssid"`
	Security      string `json:"security"`
	Passphrase    string `json:"passphrase,omitempty"`
	BrokerURL     string `json:"broker"`
	EnrollmentURL string `json:"enroll_url"`
	Token         string `json:"token"`
	IssuedAt      string `json:"issued_at"`
	ExpiresAt     string `json:"expires_at"`
}

func newPairDecodeCmd() *cobra.Command {
	var keyPath, trustPath, device, nonce, in string
	var frames, showSecrets bool
	c := &cobra.Command{
		Use:   "decode --key PAIR.jwk --trust PROV.pub.jwk --device UUID --nonce B64URL [--in FILE] [--frames]",
		Short: "Open a pairing payload as the device would",
		Long: `Decrypt a pairing payload with the device's pairing key (--key), verify the
provisioning signature (--trust), the audience (--device), the nonce and the
expiry, and print the payload as JSON. The passphrase and token are
redacted unless --show-secrets. With --frames the input is BLE frames as
hex, one per line (as "pair encode --mtu" prints). Input is stdin unless
--in. A payload that fails a check exits 1 naming the rule: decrypt,
signature, device, nonce, expired, frames or payload.`,
		Example: `  iomt pair encode ... --mtu 185 | iomt pair decode --key pair.jwk --trust prov.pub.jwk --device $DEV --nonce $NONCE --frames`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" || trustPath == "" || device == "" || nonce == "" {
				return usagef("--key, --trust, --device and --nonce are required")
			}
			dev, err := iomt.ParseDeviceID(device)
			if err != nil {
				return usagef("--device: %v", err)
			}
			n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(nonce, "="))
			if err != nil {
				return usagef("--nonce must be base64url")
			}
			key, err := loadPrivateKey(keyPath)
			if err != nil {
				return err
			}
			pairKey, ok := key.(*ecdsa.PrivateKey)
			if !ok {
				return usagef("--key must be an ECDSA P-256 pairing key")
			}
			trust, err := loadPublicKey(trustPath)
			if err != nil {
				return err
			}
			opener, err := provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{PairingKey: pairKey, Trusted: trust, Device: dev})
			if err != nil {
				return usagef("%v", err)
			}
			var r io.Reader = cmd.InOrStdin()
			if in != "" && in != "-" {
				b, err := readLimited(in, 4*provisioning.MaxFramedMessage)
				if err != nil {
					return err
				}
				r = bytes.NewReader(b)
			}
			raw, err := io.ReadAll(io.LimitReader(r, 4*provisioning.MaxFramedMessage+1))
			if err != nil {
				return err
			}
			sealed := bytes.TrimSpace(raw)
			if frames {
				if sealed, err = reassembleHex(raw); err != nil {
					return checkFailed("frames", err)
				}
			}
			p, err := opener.Open(sealed, n)
			if err != nil {
				return checkFailed(pairRule(err), err)
			}
			o := pairOutput{Device: p.Device.String(), Patient: p.Patient.String(), SSID: p.SSID, Security: string(p.Security),
				BrokerURL: p.BrokerURL, EnrollmentURL: p.EnrollmentURL, Token: "(redacted)",
				IssuedAt: p.IssuedAt.UTC().Format(time.RFC3339), ExpiresAt: p.Expires().UTC().Format(time.RFC3339)}
			if p.Passphrase != "" {
				o.Passphrase = "(redacted)"
			}
			if showSecrets {
				o.Passphrase, o.Token = p.Passphrase, p.EnrollmentToken
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(o)
		},
	}
	f := c.Flags()
	f.StringVar(&keyPath, "key", "", "device pairing private key (JWK or PEM)")
	f.StringVar(&trustPath, "trust", "", "provisioning public key (JWK or PEM)")
	f.StringVar(&device, "device", "", "this device's UUID")
	f.StringVar(&nonce, "nonce", "", "the nonce the device offered, base64url")
	f.StringVar(&in, "in", "", "input file (default stdin)")
	f.BoolVar(&frames, "frames", false, "input is hex BLE frames, one per line")
	f.BoolVar(&showSecrets, "show-secrets", false, "print the passphrase and token")
	return c
}

func reassembleHex(raw []byte) ([]byte, error) {
	var r provisioning.Reassembler
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 4*provisioning.MaxMTU), 4*provisioning.MaxMTU)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		fr, err := hex.DecodeString(line)
		if err != nil {
			return nil, errors.New("frame is not hex")
		}
		msg, err := r.Add(fr)
		if err != nil {
			return nil, err
		}
		if msg != nil {
			return msg, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("incomplete: frames end before the message")
}

func pairRule(err error) string {
	switch {
	case errors.Is(err, provisioning.ErrDecrypt):
		return "decrypt"
	case errors.Is(err, provisioning.ErrBadSignature), errors.Is(err, provisioning.ErrWrongAudience):
		return "signature"
	case errors.Is(err, provisioning.ErrDeviceMismatch):
		return "device"
	case errors.Is(err, provisioning.ErrStaleNonce):
		return "nonce"
	case errors.Is(err, provisioning.ErrExpired):
		return "expired"
	}
	return "payload"
}
