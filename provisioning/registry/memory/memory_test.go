package memory_test

import (
	"testing"
	"time"

	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/registry/memory"
	"github.com/openiomt/sdk/provisioning/registry/registrytest"
)

func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T, now func() time.Time) provisioning.Registry {
		return memory.New(memory.Config{Now: now})
	})
}
