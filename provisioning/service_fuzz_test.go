package provisioning_test

import (
	"errors"
	"testing"
	"time"

	"github.com/openiomt/sdk/provisioning"
)

// FuzzServiceName issues service certificates for arbitrary names: a name
// ValidServiceName refuses is never issued, and every issued certificate
// identifies as exactly that service and never as a device.
func FuzzServiceName(f *testing.F) {
	for _, s := range []string{"ingest", "ota-publisher", "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "uuid:x", "a\x00b", "-", "x"} {
		f.Add(s)
	}
	ca := newTestCA(f, &clock{time.Now()})
	key := newP256(f)
	f.Fuzz(func(t *testing.T, name string) {
		chain, err := ca.IssueServiceCertificate(key.Public(), name)
		if !provisioning.ValidServiceName(name) {
			if !errors.Is(err, provisioning.ErrInvalidConfig) {
				t.Fatalf("invalid name %q: %v", name, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid name %q: %v", name, err)
		}
		peer, err := provisioning.IdentifyPeer(chain[0])
		if err != nil || peer.Service != name || !peer.Device.IsZero() {
			t.Fatalf("%q identified as %v, %v", name, peer, err)
		}
		if _, err := provisioning.DeviceIDFromCertificate(chain[0]); err == nil {
			t.Fatalf("service %q reads as a device", name)
		}
	})
}
