package stack

import (
	"testing"

	"go.uber.org/goleak"
)

// The stack starts brokers, ingest workers, publishers and HTTP servers;
// every one must be gone when its Close returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
