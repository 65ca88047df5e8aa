package outbox_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/openiomt/sdk/telemetry/outbox"
)

func Example() {
	dir, _ := os.MkdirTemp("", "outbox")
	defer os.RemoveAll(dir)

	ob, err := outbox.Open(dir, outbox.Config{MaxEntries: 1000})
	if err != nil {
		log.Fatal(err)
	}
	// Append returns once the entry is fsynced.
	if _, err := ob.Append(context.Background(), "iomt/v1/0b4f…/telemetry/blood_pressure", []byte("signed envelope")); err != nil {
		log.Fatal(err)
	}
	// The publisher claims entries, publishes them, and acknowledges each
	// one when the broker's PUBACK arrives.
	for _, e := range ob.Claim(10) {
		fmt.Println(e.Topic, string(e.Payload))
		_ = ob.Ack(e.ID)
	}
	fmt.Println("left:", ob.Stats().Entries)
	ob.Close()
	// Output:
	// iomt/v1/0b4f…/telemetry/blood_pressure signed envelope
	// left: 0
}
