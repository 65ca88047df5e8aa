package release

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/openiomt/sdk/iomt"
)

// ErrRollout: a rollout's parameters are invalid.
var ErrRollout = errors.New("release: invalid rollout")

// Rollout is a staged rollout: Permille of devices (0–1000) are in the
// cohort of Campaign. The zero value includes nobody.
type Rollout struct {
	// Campaign salts the hash so each campaign picks its own cohort.
	Campaign string
	// Permille is the share of devices included, in tenths of a percent.
	Permille int
}

// Validate reports whether r's fields are in range.
func (r Rollout) Validate() error {
	if r.Campaign == "" || len(r.Campaign) > MaxLabelLen {
		return fmt.Errorf("%w: campaign", ErrRollout)
	}
	if r.Permille < 0 || r.Permille > 1000 {
		return fmt.Errorf("%w: permille", ErrRollout)
	}
	return nil
}

// Bucket returns the device's stable position in [0, 1000) for campaign:
// SHA-256 over the campaign, a zero byte and the device's 16 UUID bytes.
func Bucket(campaign string, device iomt.DeviceID) int {
	h := sha256.New()
	h.Write([]byte(campaign))
	h.Write([]byte{0})
	h.Write(device[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return int(binary.BigEndian.Uint64(sum[:8]) % 1000)
}

// Includes reports whether device is in the rollout's cohort. An invalid
// rollout includes nobody.
func (r Rollout) Includes(device iomt.DeviceID) bool {
	if r.Validate() != nil || device.IsZero() {
		return false
	}
	return Bucket(r.Campaign, device) < r.Permille
}
