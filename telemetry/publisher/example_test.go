package publisher_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/publisher"
)

func Example() {
	dir, _ := os.MkdirTemp("", "device-state")
	defer os.RemoveAll(dir)
	dev := iomt.MustParseDeviceID("6f1c2a9e-4b7d-4c1e-9a3f-2d5b8e7c1a40")

	// On a real device the certificate and key come from provisioning, the
	// patient UUID from pairing, and the sequence from a FileSequence.
	var deviceCert tls.Certificate
	key, _ := telemetry.GenerateKey(telemetry.ES256, nil)
	pat := iomt.MustParsePatientID("0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a")
	seq, err := telemetry.OpenFileSequence(telemetry.FileSequenceConfig{Path: filepath.Join(dir, "seq")})
	if err != nil {
		log.Fatal(err)
	}
	defer seq.Close()
	signer, err := telemetry.NewSigner(telemetry.SignerConfig{Key: key, Device: dev, Patient: pat, Sequence: seq})
	if err != nil {
		log.Fatal(err)
	}
	p, err := publisher.New(publisher.Config{
		ServerURL: "mqtts://127.0.0.1:1", // unreachable here: readings wait in the outbox
		DeviceID:  dev,
		TLS: &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &deviceCert, nil
		}},
		StateDir: filepath.Join(dir, "state"),
		Signer:   signer,
	})
	if err != nil {
		log.Fatal(err)
	}
	// Publish signs (telemetry.Signer), validates, and returns once the
	// envelope is fsynced in the outbox.
	reading := iomt.BloodPressure{Systolic: 128, Diastolic: 82, Pulse: 66, Unit: iomt.MmHg, MeasuredAt: time.Now()}
	if err := p.Publish(context.Background(), reading); err != nil {
		log.Fatal(err)
	}
	fmt.Println("queued:", p.Stats().Queued)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = p.Close(ctx) // the reading stays in the outbox for the next start
	// Output:
	// queued: 1
}
