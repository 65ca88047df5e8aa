package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/openiomt/sdk/iomt"
)

// envelope returns the message the device publishes and a check the
// ingest applies. Until package telemetry is merged, the message is opaque
// bytes and the check compares them.
func envelope(t *testing.T, c *cloud, d *device, pat iomt.PatientID, topic string) ([]byte, func(ctx context.Context, topic string, b []byte) error) {
	want := []byte(`{"opaque":"reading"}`)
	return want, func(_ context.Context, _ string, b []byte) error {
		if !bytes.Equal(b, want) {
			return fmt.Errorf("payload changed in transit: got %q", b)
		}
		return nil
	}
}

// revokedCheck verifies that the revoked device's messages are refused by
// the ingest side; without package telemetry only the registry is asked.
func revokedCheck(ctx context.Context, c *cloud, d *device, pat iomt.PatientID, topic string) error {
	_, err := c.registry.Lookup(ctx, d.id.Device)
	return err
}
