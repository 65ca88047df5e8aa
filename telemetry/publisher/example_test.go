package publisher_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry/publisher"
)

func Example() {
	dir, _ := os.MkdirTemp("", "device-state")
	defer os.RemoveAll(dir)
	dev := iomt.MustParseDeviceID("6f1c2a9e-4b7d-4c1e-9a3f-2d5b8e7c1a40")

	// On a real device the certificate comes from the provisioning step.
	var deviceCert tls.Certificate
	p, err := publisher.New(publisher.Config{
		ServerURL: "mqtts://127.0.0.1:1", // unreachable here: readings wait in the outbox
		DeviceID:  dev,
		TLS: &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &deviceCert, nil
		}},
		StateDir: dir,
	})
	if err != nil {
		log.Fatal(err)
	}
	topic := "iomt/v1/" + dev.String() + "/telemetry/blood_pressure"
	if err := p.PublishEnvelope(context.Background(), topic, []byte("eyJhbGciOiJFUzI1NiJ9...")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("queued:", p.Stats().Queued)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = p.Close(ctx) // the reading stays in the outbox for the next start
	// Output:
	// queued: 1
}
