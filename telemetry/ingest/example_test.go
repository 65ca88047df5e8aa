package ingest_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ingest")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	readings, err := store.OpenSQLite(ctx, filepath.Join(dir, "readings.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer readings.Close()

	// Device public keys come from the device registry; a JWK set file
	// (telemetry.LoadJWKSFile) or a MemoryResolver works too.
	keys := &telemetry.MemoryResolver{}
	v, err := telemetry.NewVerifier(telemetry.VerifierConfig{Keys: keys, Replay: ingest.NoReplayWindow{}})
	if err != nil {
		log.Fatal(err)
	}
	w, err := ingest.New(ingest.Config{
		ServerURL:         "mqtt://127.0.0.1:1", // use mqtts:// with Config.TLS in production
		InsecurePlaintext: true,
		ClientID:          "ingest-worker-1", // stable per worker
		Group:             "readings",
		Verifier:          ingest.FromTelemetry(v),
		Store:             readings,
	})
	if err != nil {
		log.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	fmt.Println("close:", w.Close(cctx))
	// Output:
	// close: <nil>
}

// With Config.Takeover, each worker keeps a retained presence message that
// the broker turns into "dead" if the worker's connection dies; grant the
// workers this topic tree in the broker's ACL.
func ExamplePresenceTopic() {
	fmt.Println(ingest.PresenceTopic("iomt-ingest", "ingest-0"))
	// Output: iomt-ingest/presence/iomt-ingest/ingest-0
}
