package provisioning_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an injectable test clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newDevice(t testing.TB) iomt.DeviceID {
	t.Helper()
	id, err := iomt.NewDeviceID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newPatient(t testing.TB) iomt.PatientID {
	t.Helper()
	id, err := iomt.NewPatientID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestCA returns a root CA issuing directly, on clock c.
func newTestCA(t testing.TB, c *clock) *provisioning.CA {
	t.Helper()
	key := newP256(t)
	cert, err := provisioning.CreateRootCA(key, provisioning.CAOptions{Name: "test device CA", Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := provisioning.NewCA(cert, key, nil, provisioning.CAConfig{Now: c.Now, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func wantErr(t testing.TB, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %v", err, sentinel)
	}
	var pe *provisioning.Error
	if err != nil && !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *provisioning.Error", err)
	}
}
