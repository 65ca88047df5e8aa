package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/sqlite"
)

// BenchmarkList pages through 5000 devices: the first page against a page
// near the end (keyset cursor, no OFFSET), so the ratio shows whether the
// cost grows with depth.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	r, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "registry.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const n = 5000
	for i := 0; i < n; i++ {
		id, _ := iomt.NewDeviceID(nil)
		if err := r.Register(ctx, id, nil); err != nil {
			b.Fatal(err)
		}
	}
	deep, err := r.List(ctx, provisioning.ListOptions{Limit: n - 101})
	if err != nil {
		b.Fatal(err)
	}
	for name, after := range map[string]iomt.DeviceID{"first-page": {}, "page-at-4900": deep[len(deep)-1].ID} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				page, err := r.List(ctx, provisioning.ListOptions{After: after, Limit: 100})
				if err != nil || len(page) != 100 {
					b.Fatalf("%d devices, %v", len(page), err)
				}
			}
		})
	}
}
