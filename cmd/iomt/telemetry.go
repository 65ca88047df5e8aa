package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/spf13/cobra"
)

func newTelemetryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "telemetry",
		Short: "Sign and verify telemetry envelopes",
		Long: `Sign and verify openiomt telemetry envelopes: JWS compact serializations
(ES256 or EdDSA, typ "iomt-telemetry+jws", kid = device UUID) whose payload
carries only UUIDs, a sequence number, a time and numbers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTelemetrySignCmd(), newTelemetryVerifyCmd())
	return cmd
}

func newTelemetrySignCmd() *cobra.Command {
	var keyPath, device, patient, seq, kind, data, ts string
	cmd := &cobra.Command{
		Use:   "sign --key K.jwk --device UUID --patient UUID --seq N --kind KIND --data JSON",
		Short: "Sign one reading as a telemetry envelope",
		Long: `Sign one reading and print the envelope (JWS compact serialization) on
stdout. --data is the reading's JSON form, numbers only, for example
{"sys":120,"dia":80,"pulse":64,"unit":0,"status":0} for blood_pressure,
{"bpm":72} for heart_rate, {"conc":5.4,"unit":1,"meal":3} for glucose.
The key's kid must equal --device. --seq must never repeat for the device:
verifiers reject a reused number as a replay.

Exit status: 0 signed; 1 the key or reading was refused (the rule on
stderr: key, kid, phi, unknown-field, malformed, reading); 2 usage error.`,
		Example: `  iomt telemetry sign --key device1.jwk --device 6f1c2b1e-8d3a-4c55-9a7e-2b9d4e5f6a70 \
    --patient a3e1f2d4-5b6c-4d7e-8f90-1a2b3c4d5e6f --seq 1 --kind blood_pressure \
    --data '{"sys":120,"dia":80,"pulse":64}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range []struct{ name, v string }{{"key", keyPath}, {"device", device}, {"patient", patient}, {"seq", seq}, {"kind", kind}, {"data", data}} {
				if f.v == "" {
					return usagef("--%s is required", f.name)
				}
			}
			dev, err := iomt.ParseDeviceID(device)
			if err != nil {
				return usagef("--device must be a canonical lowercase version 4 or 7 UUID")
			}
			pat, err := iomt.ParsePatientID(patient)
			if err != nil {
				return usagef("--patient must be a canonical lowercase version 4 or 7 UUID")
			}
			n, err := strconv.ParseUint(seq, 10, 64)
			if err != nil || n == 0 {
				return usagef("--seq must be an integer from 1 to 18446744073709551615")
			}
			k, err := iomt.ParseKind(kind)
			if err != nil {
				return usagef("--kind must be one of %v", iomt.Kinds())
			}
			at := time.Now().UTC()
			if ts != "" {
				if at, err = time.Parse(time.RFC3339Nano, ts); err != nil {
					return usagef("--time must be an RFC 3339 time")
				}
			}
			key, kid, err := telemetry.LoadPrivateJWKFile(keyPath)
			if err != nil {
				return checkFailed("key", err)
			}
			if kid != dev {
				return checkFailed("kid", errors.New("the key's kid is not --device"))
			}
			if err := telemetry.CheckData(k, []byte(data)); err != nil {
				return checkFailed(telemetry.Rule(err), err)
			}
			r, err := iomt.NewReading(k)
			if err != nil {
				return usagef("--kind: %v", err)
			}
			if err := json.Unmarshal([]byte(data), r); err != nil {
				return checkFailed("malformed", errors.New("--data values do not fit the reading's members"))
			}
			compact, err := telemetry.SignPayload(key, &telemetry.Payload{
				Device: dev, Patient: pat, Seq: n, Time: at, Kind: k, Reading: r,
			}, rand.Reader)
			if err != nil {
				return checkFailed(ruleOr(err, "sign"), err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", compact)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "private JWK file of the device (from iomt keygen)")
	f.StringVar(&device, "device", "", "device UUID; must equal the key's kid")
	f.StringVar(&patient, "patient", "", "pseudonymous patient UUID from the PHI silo")
	f.StringVar(&seq, "seq", "", "sequence number, never reused for the device")
	f.StringVar(&kind, "kind", "", "measurement kind: blood_pressure, heart_rate or glucose")
	f.StringVar(&data, "data", "", "reading as JSON, numbers only")
	f.StringVar(&ts, "time", "", "measurement time, RFC 3339 (default: now)")
	return cmd
}

func newTelemetryVerifyCmd() *cobra.Command {
	var jwks, in, topic string
	var maxAge, maxSkew time.Duration
	cmd := &cobra.Command{
		Use:   "verify --jwks FILE [--in FILE]",
		Short: "Verify telemetry envelopes and print their payloads",
		Long: `Verify envelopes, one per line, read from --in or stdin, against the device
keys in a JWK set file (or a single public JWK file), and print each
payload as one line of JSON. Sequence numbers are checked for replays
across the envelopes of one run. Time is checked against this machine's
clock: at most --max-skew ahead and --max-age behind.

Exit status: 0 every envelope verified; 1 an envelope was rejected (stderr
names the line and the rule: signature, replay, replay-window, time, phi,
unknown-field, malformed, algorithm, kid, topic, unknown-device, size, ...);
2 usage error.`,
		Example: `  iomt telemetry sign ... | iomt telemetry verify --jwks fleet.jwks
  iomt telemetry verify --jwks device1.pub.jwk --in envelope.jws`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if jwks == "" {
				return usagef("--jwks FILE is required")
			}
			if maxAge < 0 || maxSkew < 0 {
				return usagef("--max-age and --max-skew must not be negative")
			}
			keys, err := telemetry.LoadJWKSFile(jwks)
			if err != nil {
				return checkFailed("key", err)
			}
			v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, MaxAge: maxAge, MaxClockSkew: maxSkew})
			if err != nil {
				return err
			}
			var r io.Reader = cmd.InOrStdin()
			if in != "" {
				f, err := os.Open(in)
				if err != nil {
					return checkFailed("input", err)
				}
				defer f.Close()
				r = f
			}
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 0, 4096), telemetry.DefaultMaxEnvelopeSize+2)
			out := cmd.OutOrStdout()
			line, verified := 0, 0
			for sc.Scan() {
				line++
				b := bytes.TrimSpace(sc.Bytes())
				if len(b) == 0 {
					continue
				}
				var p *telemetry.Payload
				if topic != "" {
					p, err = v.VerifyTopic(cmd.Context(), topic, b)
				} else {
					p, err = v.Verify(cmd.Context(), b)
				}
				if err != nil {
					return checkFailed(ruleOr(err, "verify"), fmt.Errorf("line %d: %w", line, err))
				}
				j, err := p.MarshalJSON()
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintf(out, "%s\n", j); err != nil {
					return err
				}
				verified++
			}
			if err := sc.Err(); err != nil {
				if errors.Is(err, bufio.ErrTooLong) {
					return checkFailed("size", fmt.Errorf("line %d: %w", line+1, telemetry.ErrOversize))
				}
				return checkFailed("input", err)
			}
			if verified == 0 {
				return checkFailed("input", errors.New("no envelope in input"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&jwks, "jwks", "", "JWK set (or single public JWK) of the trusted device keys")
	f.StringVar(&in, "in", "", "file of envelopes, one per line (default: stdin)")
	f.StringVar(&topic, "topic", "", "MQTT topic the envelopes arrived on; checks device and kind")
	f.DurationVar(&maxAge, "max-age", telemetry.DefaultMaxAge, "oldest accepted measurement time, relative to now")
	f.DurationVar(&maxSkew, "max-skew", telemetry.DefaultMaxClockSkew, "furthest accepted measurement time in the future")
	return cmd
}

// ruleOr returns telemetry.Rule(err), or def when err carries no rule.
func ruleOr(err error, def string) string {
	if r := telemetry.Rule(err); r != "" {
		return r
	}
	return def
}
