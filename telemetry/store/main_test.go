package store_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The PostgreSQL store owns a pgx pool with background goroutines; Close
// must stop them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
