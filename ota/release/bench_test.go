package release

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openiomt/sdk/ota"
)

func benchCampaign(b *testing.B, n int) *Campaign {
	b.Helper()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	c, err := NewCampaign(CampaignConfig{Rollout: Rollout{Campaign: "bpm-1.4.2", Permille: 1000}, ManifestVersion: 7,
		Version: "1.4.2", Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		var id [16]byte
		id[0], id[1], id[2], id[6], id[8] = byte(i), byte(i>>8), byte(i>>16), 0x40, 0x80
		if _, err := c.Offer(id); err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			r := &StatusReport{V: 1, Device: id, Campaign: "bpm-1.4.2", ManifestVersion: 7, State: ota.StateCommitted, Version: "1.4.2", Time: now.Add(time.Minute)}
			if err := c.Apply(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	return c
}

// BenchmarkFileStoreSave is the cost of persisting one applied report
// (Record, encode, atomic durable write) against BenchmarkCampaignEncode,
// the same work without the file system.
func BenchmarkFileStoreSave(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			c := benchCampaign(b, n)
			s, err := NewFileStore(FileStoreConfig{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			rec := c.Record()
			size, _ := EncodeCampaignFile(rec, nil)
			b.SetBytes(int64(len(size)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := c.Record()
				rec.Revision = uint64(i + 1)
				if err := s.Save(context.Background(), rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCampaignEncode(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			c := benchCampaign(b, n)
			size, _ := EncodeCampaignFile(c.Record(), nil)
			b.SetBytes(int64(len(size)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := EncodeCampaignFile(c.Record(), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
