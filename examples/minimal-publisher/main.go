// Command minimal-publisher is the smallest device publisher: it signs one
// blood-pressure reading with the device key and sends it over MQTT v5 with
// mutual TLS through the SDK's durable outbox, then waits for the broker's
// acknowledgement.
//
//	iomt keygen --alg ES256 --out dev          # dev.jwk (device key, kid = device UUID)
//	minimal-publisher --broker mqtts://broker.example:8883 --jwk dev.jwk \
//	    --patient 3f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b --cert dev.crt --key dev.key --ca ca.pem \
//	    --state ./device-state --sys 128 --dia 82 --pulse 71
//
// The envelope carries only UUIDs and numbers: the patient UUID comes from
// the PHI silo at pairing and is not derived from any patient data.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/publisher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("minimal-publisher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "", "broker URL, mqtts://host:port (required)")
	jwk := fs.String("jwk", "", "device private JWK from \"iomt keygen\" (required)")
	patient := fs.String("patient", "", "patient UUID from pairing (required)")
	state := fs.String("state", "device-state", "state directory: outbox, MQTT session, sequence file")
	cert := fs.String("cert", "", "device certificate chain (PEM)")
	key := fs.String("key", "", "device TLS private key (PEM)")
	ca := fs.String("ca", "", "CA certificates verifying the broker (PEM)")
	noSubs := fs.Bool("accept-no-subscribers", false, "count a PUBACK saying no one subscribes as delivered (a bare broker without ingest); by default such a reading stays in the outbox")
	insecure := fs.Bool("insecure-plaintext", false, "allow mqtt:// without TLS: anyone on the path can read and inject (loopback tests only)")
	sys := fs.Float64("sys", 120, "systolic, mmHg")
	dia := fs.Float64("dia", 80, "diastolic, mmHg")
	pulse := fs.Float64("pulse", 70, "pulse, /min")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the broker's acknowledgement")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pid, err := iomt.ParsePatientID(*patient)
	if *broker == "" || *jwk == "" || err != nil {
		fmt.Fprintln(stderr, "minimal-publisher: --broker, --jwk and a valid --patient are required")
		return 2
	}
	if err := publish(ctx, *broker, *jwk, pid, *state, *cert, *key, *ca, *insecure, *noSubs, *wait,
		iomt.BloodPressure{Systolic: *sys, Diastolic: *dia, Pulse: *pulse, MeasuredAt: time.Now().UTC()}, stdout); err != nil {
		fmt.Fprintln(stderr, "minimal-publisher:", err)
		return 1
	}
	return 0
}

func publish(ctx context.Context, broker, jwk string, patient iomt.PatientID, state, cert, key, ca string, insecure, noSubs bool,
	wait time.Duration, r iomt.BloodPressure, stdout io.Writer) (err error) {
	signingKey, dev, err := telemetry.LoadPrivateJWKFile(jwk)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	seq, err := telemetry.OpenFileSequence(telemetry.FileSequenceConfig{Path: filepath.Join(state, "sequence")})
	if err != nil {
		return err
	}
	defer seq.Close()
	signer, err := telemetry.NewSigner(telemetry.SignerConfig{Key: signingKey, Device: dev, Patient: patient, Sequence: seq})
	if err != nil {
		return err
	}
	cfg := publisher.Config{ServerURL: broker, DeviceID: dev, StateDir: state, Signer: signer, InsecurePlaintext: insecure, AcceptNoSubscribers: noSubs}
	if !insecure {
		if cfg.TLS, err = tlsConfig(cert, key, ca); err != nil {
			return err
		}
	}
	p, err := publisher.New(cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, p.Close(cctx))
	}()
	if err := p.Publish(ctx, r); err != nil { // signed and fsynced in the outbox
		return err
	}
	deadline := time.Now().Add(wait)
	for p.Stats().Acked == 0 {
		if time.Now().After(deadline) {
			return errors.New("no acknowledgement yet; the reading stays in the outbox for the next run")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Fprintf(stdout, "reading of device %s acknowledged by the broker\n", dev)
	return nil
}

func tlsConfig(cert, key, ca string) (*tls.Config, error) {
	if cert == "" || key == "" || ca == "" {
		return nil, errors.New("--cert, --key and --ca are required for TLS")
	}
	c, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("--ca holds no certificate")
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}, RootCAs: pool}, nil
}
