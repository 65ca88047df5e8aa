package ingest

import (
	"context"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry"
)

// NoReplayWindow is a telemetry.ReplayWindow that accepts every sequence
// number. Give it to the telemetry.Verifier of ingest workers whose store
// is idempotent on (device, seq) — every [store.Store] is — so that the
// store's key is the replay defence: a replayed envelope becomes a counted
// duplicate and changes nothing.
//
// Why not a per-worker in-memory window: workers on one shared
// subscription each see a part of a device's stream, and a message
// redelivered late (after a broker restart or a device's publish timeout)
// may be further behind a worker's highest sequence than the window
// covers. The verifier then rejects it as too old and the ingest
// acknowledges the rejection, so a reading that was never stored would be
// lost. A cluster-wide window over shared storage avoids that too.
type NoReplayWindow struct{}

var _ telemetry.ReplayWindow = NoReplayWindow{}

// Check accepts every sequence number.
func (NoReplayWindow) Check(context.Context, iomt.DeviceID, uint64) error { return nil }

// Record accepts every sequence number.
func (NoReplayWindow) Record(context.Context, iomt.DeviceID, uint64) error { return nil }
