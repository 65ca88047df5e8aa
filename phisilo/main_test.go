package phisilo_test

import (
	"testing"

	"go.uber.org/goleak"
)

// CheckpointLoop runs in callers' goroutines; tests must stop them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
