//go:build !unix

package outbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// lockDir on systems without flock only creates the lock file; callers must
// not open one directory twice.
func lockDir(dir string) (io.Closer, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: lock: %w", err)
	}
	return f, nil
}
