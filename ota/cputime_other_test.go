//go:build !linux

package ota

import "time"

// threadCPU is unavailable here; benchmarks then report only wall time.
func threadCPU() time.Duration { return 0 }
