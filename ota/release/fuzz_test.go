package release

import (
	"bytes"
	"encoding/json"
	"errors"
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

// FuzzDecodeCampaignFile checks the campaign file parser against arbitrary
// bytes, with and without a MAC key, and that accepted files round-trip.
func FuzzDecodeCampaignFile(f *testing.F) {
	f.Add([]byte(`{"v":1,"sha256":"00","record":{}}`), false)
	f.Fuzz(func(t *testing.T, data []byte, keyed bool) {
		var key []byte
		if keyed {
			key = bytes.Repeat([]byte{0x5a}, MinStoreMACKeyLen)
		}
		rec, err := DecodeCampaignFile(data, key)
		if err != nil {
			if !errors.Is(err, ErrCampaignCorrupt) && !errors.Is(err, ErrCampaignTampered) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		b, err := EncodeCampaignFile(rec, key)
		if err != nil {
			t.Fatal(err)
		}
		rec2, err := DecodeCampaignFile(b, key)
		if err != nil || rec2.Campaign != rec.Campaign || rec2.Revision != rec.Revision || len(rec2.Devices) != len(rec.Devices) {
			t.Fatalf("round trip: %v", err)
		}
		if _, err := RestoreRecord(rec, nil); err != nil {
			t.Fatalf("accepted record does not restore: %v", err)
		}
	})
}
