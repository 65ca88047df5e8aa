package memory_test

import (
	"testing"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/memory"
	"github.com/openiomt/sdk/phisilo/phisilotest"
)

func TestConformance(t *testing.T) {
	phisilotest.Run(t, phisilotest.Harness{New: func(*testing.T) phisilo.Backend { return memory.New() }})
}
