package memory_test

import (
	"context"
	"fmt"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/memory"
)

// A fleet view walks the registry page by page, passing the last device of
// each page as the cursor of the next.
func ExampleRegistry_List() {
	ctx := context.Background()
	r := memory.New(memory.Config{})
	for range 5 {
		id, _ := iomt.NewDeviceID(nil)
		_ = r.Register(ctx, id, nil)
	}
	opts := provisioning.ListOptions{Limit: 2, Status: provisioning.StatusProvisioned}
	for {
		page, err := r.List(ctx, opts)
		if err != nil {
			fmt.Println(err)
			return
		}
		if len(page) == 0 {
			break
		}
		fmt.Println("page of", len(page))
		opts.After = page[len(page)-1].ID
	}
	// Output:
	// page of 2
	// page of 2
	// page of 1
}
