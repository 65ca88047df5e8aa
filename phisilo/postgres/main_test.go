package postgres_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The driver and database/sql start goroutines; Close must end them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
