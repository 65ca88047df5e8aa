package sbom_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that licence scanning and go command goroutines end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
