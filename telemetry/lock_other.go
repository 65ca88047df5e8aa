//go:build !unix

package telemetry

import "os"

// lockFile is a no-op where flock is unavailable: only one process may
// open a sequence file, and nothing enforces it there.
func lockFile(string) (*os.File, error) { return nil, nil }

func unlockFile(*os.File) {}
