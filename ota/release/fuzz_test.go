package release

import (
	"encoding/json"
	"testing"
)

// FuzzParseStatusReport checks the status report parser against arbitrary
// topics and payloads, and that accepted reports round-trip.
func FuzzParseStatusReport(f *testing.F) {
	f.Add("iomt/v1/6f1c2a4e-8b1d-4c3e-9a7f-0d2b5e8c1a34/ota/status",
		[]byte(`{"v":1,"dev":"6f1c2a4e-8b1d-4c3e-9a7f-0d2b5e8c1a34","campaign":"c","manifest_version":7,"state":"committed","ts":"2026-06-01T09:20:00Z"}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		r, err := ParseStatusReport(topic, payload)
		if err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseStatusReport(topic, b)
		if err != nil || r2.Device != r.Device || r2.State != r.State || !r2.Time.Equal(r.Time) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
