// Command minimal-ingest is the smallest cloud ingest: one worker on the
// shared subscription $share/iomt-ingest/iomt/v1/+/telemetry/+ that
// verifies each envelope against the devices' public keys, stores it in
// SQLite idempotently by (device, seq), and acknowledges to the broker only
// after the commit. Run several against one broker and they share the load.
//
//	minimal-ingest --broker mqtts://broker.example:8883 --jwks devices.jwks \
//	    --cert ingest.crt --key ingest.key --ca ca.pem --db readings.db --client-id ingest-1
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
	"syscall"
	"time"

	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("minimal-ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "", "broker URL, mqtts://host:port (required)")
	jwks := fs.String("jwks", "", "JWK set of the devices' public keys (required; production resolves keys from the device registry)")
	db := fs.String("db", "readings.db", "SQLite readings database")
	clientID := fs.String("client-id", "ingest-1", "this worker's MQTT client ID (unique per worker, stable across restarts)")
	group := fs.String("group", ingest.DefaultGroup, "shared-subscription group; workers of one group share the load")
	cert := fs.String("cert", "", "service client certificate (PEM)")
	key := fs.String("key", "", "service TLS private key (PEM)")
	ca := fs.String("ca", "", "CA certificates verifying the broker (PEM)")
	insecure := fs.Bool("insecure-plaintext", false, "allow mqtt:// without TLS: anyone on the path can read and inject (loopback tests only)")
	maxAge := fs.Duration("max-age", 7*24*time.Hour, "oldest measurement time accepted (device offline buffering)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *broker == "" || *jwks == "" {
		fmt.Fprintln(stderr, "minimal-ingest: --broker and --jwks are required")
		return 2
	}
	if err := serve(ctx, *broker, *jwks, *db, *clientID, *group, *cert, *key, *ca, *insecure, *maxAge, stdout); err != nil {
		fmt.Fprintln(stderr, "minimal-ingest:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, broker, jwks, db, clientID, group, cert, key, ca string, insecure bool, maxAge time.Duration, stdout io.Writer) error {
	keys, err := telemetry.LoadJWKSFile(jwks)
	if err != nil {
		return err
	}
	v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, MaxAge: maxAge})
	if err != nil {
		return err
	}
	st, err := store.OpenSQLite(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := ingest.Config{ServerURL: broker, ClientID: clientID, Group: group, Verifier: ingest.FromTelemetry(v), Store: st,
		Rule: telemetry.Rule, InsecurePlaintext: insecure}
	if !insecure {
		if cert == "" || key == "" || ca == "" {
			return errors.New("--cert, --key and --ca are required for TLS")
		}
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return err
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("--ca holds no certificate")
		}
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}, RootCAs: pool}
	}
	in, err := ingest.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ingesting from %s into %s; Ctrl-C stops\n", broker, db)
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = in.Close(cctx)
	s := in.Stats()
	fmt.Fprintf(stdout, "received %d, stored %d, duplicates %d, rejected %d %v\n", s.Received, s.Stored, s.Duplicates, s.Rejected, s.RejectedBy)
	return err
}
