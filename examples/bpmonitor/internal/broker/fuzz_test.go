package broker

import (
	"strings"
	"testing"

	"github.com/openiomt/sdk/iomt"
)

// FuzzAuthorize: the topic rules never panic, never let a device publish
// outside its own telemetry and status topics, and never let a service
// publish at all.
func FuzzAuthorize(f *testing.F) {
	dev := iomt.MustParseDeviceID("7b1d3c2e-0f4a-4b5c-8d6e-7f8091a2b3c4")
	for _, s := range []string{
		"iomt/v1/7b1d3c2e-0f4a-4b5c-8d6e-7f8091a2b3c4/telemetry/blood_pressure",
		"iomt/v1/7b1d3c2e-0f4a-4b5c-8d6e-7f8091a2b3c4/ota/status",
		"iomt/v1/+/telemetry/+", "$share/g/iomt/v1/+/telemetry/+", "#", "", "$share//x",
		"iomt/v1/7b1d3c2e-0f4a-4b5c-8d6e-7f8091a2b3c4/telemetry/../x",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, topic string, write bool) {
		own := "iomt/v1/" + dev.String() + "/"
		if Authorize(Identity{Device: dev}, topic, write) == "" {
			if !strings.HasPrefix(topic, own) {
				t.Fatalf("device allowed on %q", topic)
			}
			if write {
				rest := topic[len(own):]
				if k, ok := strings.CutPrefix(rest, "telemetry/"); ok {
					if _, err := iomt.ParseKind(k); err != nil {
						t.Fatalf("device allowed to publish kind %q", k)
					}
				} else if rest != "ota/status" {
					t.Fatalf("device allowed to publish on %q", topic)
				}
			}
		}
		if write && Authorize(Identity{Service: "ingest"}, topic, true) == "" {
			t.Fatal("service allowed to publish")
		}
		if Authorize(Identity{}, topic, write) == "" {
			t.Fatal("no identity allowed")
		}
	})
}
