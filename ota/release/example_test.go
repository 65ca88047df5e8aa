package release_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/ota"
	"github.com/openiomt/sdk/ota/release"
)

func Example() {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	c, err := release.NewCampaign(release.CampaignConfig{
		Rollout:         release.Rollout{Campaign: "bpm-1.4.2", Permille: 1000}, // 100 %
		ManifestVersion: 7,
		Timeout:         6 * time.Hour,
		Now:             func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	dev := iomt.MustParseDeviceID("6f1c2a4e-8b1d-4c3e-9a7f-0d2b5e8c1a34")
	if ok, _ := c.Offer(dev); ok {
		fmt.Println("offered to", dev)
	}
	payload := `{"v":1,"dev":"6f1c2a4e-8b1d-4c3e-9a7f-0d2b5e8c1a34","campaign":"bpm-1.4.2",` +
		`"manifest_version":7,"state":"committed","version":"1.4.2","ts":"2026-06-01T09:20:00Z"}`
	r, err := release.ParseStatusReport(release.StatusTopic(dev), []byte(payload))
	if err != nil {
		panic(err)
	}
	if err := c.Apply(r); err != nil {
		panic(err)
	}
	v := c.View()
	fmt.Println(v.Succeeded, "succeeded,", v.Counts[ota.StateCommitted], "committed")
	// Output:
	// offered to 6f1c2a4e-8b1d-4c3e-9a7f-0d2b5e8c1a34
	// 1 succeeded, 1 committed
}

// A cloud persists its campaign after every change, and a restarted cloud
// picks up where it stopped.
func ExampleFileStore() {
	dir, err := os.MkdirTemp("", "campaigns")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	store, err := release.NewFileStore(release.FileStoreConfig{Dir: dir})
	if err != nil {
		panic(err)
	}
	c, err := release.NewCampaign(release.CampaignConfig{
		Rollout: release.Rollout{Campaign: "bpm-1.4.2", Permille: 1000}, ManifestVersion: 7, Version: "1.4.2", Now: clock})
	if err != nil {
		panic(err)
	}
	dev := iomt.MustParseDeviceID("6f1c2a4e-8b1d-4c3e-9a7f-0d2b5e8c1a34")
	_, _ = c.Offer(dev)
	r, err := release.ParseStatusReport(release.StatusTopic(dev), []byte(`{"v":1,"dev":"6f1c2a4e-8b1d-4c3e-9a7f-0d2b5e8c1a34",`+
		`"campaign":"bpm-1.4.2","manifest_version":7,"state":"committed","version":"1.4.2","ts":"2026-06-01T09:20:00Z"}`))
	if err != nil {
		panic(err)
	}
	if err := c.Apply(r); err != nil {
		panic(err)
	}
	// Durable before the report is acknowledged.
	if err := store.Save(ctx, c.Record()); err != nil {
		panic(err)
	}

	// After a restart.
	store, _ = release.NewFileStore(release.FileStoreConfig{Dir: dir})
	names, _ := store.List(ctx)
	rec, err := store.Load(ctx, names[0])
	if err != nil {
		panic(err)
	}
	c, err = release.RestoreRecord(rec, clock)
	if err != nil {
		panic(err)
	}
	v := c.View()
	fmt.Println(v.Campaign, c.Config().Version, v.Devices[0].State)
	// Output:
	// bpm-1.4.2 1.4.2 committed
}
