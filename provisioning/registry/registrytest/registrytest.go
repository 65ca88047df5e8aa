// Package registrytest is the conformance suite every
// [provisioning.Registry] implementation runs, like testing/slogtest: call
// [Run] from the implementation's tests with a constructor of fresh, empty
// registries.
package registrytest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/telemetrytest"
)

// Run runs the suite. Registries must also implement
// telemetry.KeyResolver; the suite runs telemetrytest.KeyResolver on them. newRegistry must return an empty registry whose
// clock is now (so token-ledger expiry is deterministic); it is called once
// per subtest.
func Run(t *testing.T, newRegistry func(t *testing.T, now func() time.Time) provisioning.Registry) {
	t.Helper()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fixed := func() time.Time { return base }
	ctx := context.Background()

	t.Run("RegisterLookup", func(t *testing.T) {
		r := newRegistry(t, fixed)
		dev := newDevice(t)
		pair, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err := r.Register(ctx, dev, &pair.PublicKey); err != nil {
			t.Fatalf("Register: %v", err)
		}
		d, err := r.Lookup(ctx, dev)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if d.ID != dev || d.Status != provisioning.StatusProvisioned || !d.Patient.IsZero() || d.PublicKey != nil || d.CertSerial != nil {
			t.Fatalf("fresh record wrong: %+v", d)
		}
		if pk, ok := d.PairingKey.(*ecdsa.PublicKey); !ok || !pk.Equal(&pair.PublicKey) {
			t.Fatalf("pairing key not stored")
		}
		if !d.CreatedAt.Equal(base) {
			t.Fatalf("CreatedAt %v, want %v", d.CreatedAt, base)
		}
		if err := r.Register(ctx, dev, nil); !errors.Is(err, provisioning.ErrAlreadyExists) {
			t.Fatalf("second Register: %v, want ErrAlreadyExists", err)
		}
		if _, err := r.Lookup(ctx, newDevice(t)); !errors.Is(err, provisioning.ErrUnknownDevice) {
			t.Fatalf("Lookup unknown: %v, want ErrUnknownDevice", err)
		}
		if err := r.Register(ctx, iomt.DeviceID{}, nil); !errors.Is(err, iomt.ErrInvalidID) {
			t.Fatalf("Register zero ID: %v", err)
		}
	})

	t.Run("ActivateAndRotate", func(t *testing.T) {
		r := newRegistry(t, fixed)
		dev, pat := newDevice(t), newPatient(t)
		mustRegister(t, r, dev)
		k1 := newKey(t)
		e := provisioning.Enrollment{Device: dev, Patient: pat, PublicKey: k1, CertSerial: big.NewInt(1001), CertNotAfter: base.Add(time.Hour)}
		if err := r.Activate(ctx, e); err != nil {
			t.Fatalf("Activate: %v", err)
		}
		d, err := r.Lookup(ctx, dev)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != provisioning.StatusActive || d.Patient != pat || d.CertSerial.Cmp(big.NewInt(1001)) != 0 || !d.CertNotAfter.Equal(base.Add(time.Hour)) {
			t.Fatalf("activated record wrong: %+v", d)
		}
		if pk, ok := d.PublicKey.(*ecdsa.PublicKey); !ok || !pk.Equal(k1) {
			t.Fatal("public key not stored")
		}
		if err := r.CheckCertificate(ctx, dev, big.NewInt(1001)); err != nil {
			t.Fatalf("current certificate: %v", err)
		}
		// Rotation: a new Ed25519 key and serial; zero patient keeps the binding.
		pub2, _, _ := ed25519.GenerateKey(rand.Reader)
		if err := r.Activate(ctx, provisioning.Enrollment{Device: dev, PublicKey: pub2, CertSerial: big.NewInt(1002), CertNotAfter: base.Add(2 * time.Hour)}); err != nil {
			t.Fatalf("re-Activate: %v", err)
		}
		d, _ = r.Lookup(ctx, dev)
		if d.Patient != pat {
			t.Fatal("rotation dropped the patient binding")
		}
		if pk, ok := d.PublicKey.(ed25519.PublicKey); !ok || !pk.Equal(pub2) {
			t.Fatal("rotated key not stored")
		}
		if err := r.CheckCertificate(ctx, dev, big.NewInt(1001)); !errors.Is(err, provisioning.ErrRevoked) {
			t.Fatalf("superseded certificate: %v, want ErrRevoked", err)
		}
		if err := r.Activate(ctx, provisioning.Enrollment{Device: newDevice(t), PublicKey: k1, CertSerial: big.NewInt(1), CertNotAfter: base}); !errors.Is(err, provisioning.ErrUnknownDevice) {
			t.Fatalf("Activate unknown: %v", err)
		}
		if err := r.Activate(ctx, provisioning.Enrollment{Device: dev, PublicKey: k1}); !errors.Is(err, provisioning.ErrMalformed) {
			t.Fatalf("Activate without serial: %v", err)
		}
	})

	t.Run("RevokedDeviceStaysRevoked", func(t *testing.T) {
		r := newRegistry(t, fixed)
		dev := newDevice(t)
		mustRegister(t, r, dev)
		e := provisioning.Enrollment{Device: dev, Patient: newPatient(t), PublicKey: newKey(t), CertSerial: big.NewInt(7), CertNotAfter: base.Add(time.Hour)}
		if err := r.Activate(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := r.Revoke(ctx, dev); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if err := r.Revoke(ctx, dev); err != nil {
			t.Fatalf("Revoke twice: %v", err)
		}
		if err := r.CheckCertificate(ctx, dev, big.NewInt(7)); !errors.Is(err, provisioning.ErrRevoked) {
			t.Fatalf("revoked device certificate: %v, want ErrRevoked", err)
		}
		e.CertSerial = big.NewInt(8)
		if err := r.Activate(ctx, e); !errors.Is(err, provisioning.ErrRevoked) {
			t.Fatalf("re-enrolling a revoked device: %v, want ErrRevoked", err)
		}
		if err := r.Decommission(ctx, dev); err != nil {
			t.Fatalf("Decommission: %v", err)
		}
		d, _ := r.Lookup(ctx, dev)
		if d.Status != provisioning.StatusDecommissioned || !d.Patient.IsZero() {
			t.Fatalf("decommissioned record keeps binding or status: %+v", d.Status)
		}
		if err := r.Revoke(ctx, dev); !errors.Is(err, provisioning.ErrInvalidTransition) {
			t.Fatalf("revoking decommissioned: %v", err)
		}
		if err := r.Revoke(ctx, newDevice(t)); !errors.Is(err, provisioning.ErrUnknownDevice) {
			t.Fatalf("revoking unknown: %v", err)
		}
		if err := r.Decommission(ctx, newDevice(t)); !errors.Is(err, provisioning.ErrUnknownDevice) {
			t.Fatalf("decommissioning unknown: %v", err)
		}
		if err := r.CheckCertificate(ctx, newDevice(t), big.NewInt(7)); err == nil {
			t.Fatal("unknown device certificate accepted")
		}
	})

	t.Run("RevokedSerials", func(t *testing.T) {
		r := newRegistry(t, fixed)
		a, b := newDevice(t), newDevice(t)
		mustRegister(t, r, a)
		mustRegister(t, r, b)
		act := func(dev iomt.DeviceID, serial int64, notAfter time.Time) {
			t.Helper()
			if err := r.Activate(ctx, provisioning.Enrollment{Device: dev, PublicKey: newKey(t), CertSerial: big.NewInt(serial), CertNotAfter: notAfter}); err != nil {
				t.Fatal(err)
			}
		}
		act(a, 0x100, base.Add(time.Hour))
		act(a, 0x101, base.Add(2*time.Hour))  // rotation supersedes 0x100
		act(b, 0x200, base.Add(-time.Minute)) // already expired: never listed
		act(b, 0x201, base.Add(time.Hour))
		got := serialSet(t, r)
		if len(got) != 1 || !got[0x100] {
			t.Fatalf("revoked serials %v, want only the superseded 0x100", got)
		}
		if err := r.Revoke(ctx, b); err != nil {
			t.Fatal(err)
		}
		got = serialSet(t, r)
		if len(got) != 2 || !got[0x100] || !got[0x201] || got[0x200] {
			t.Fatalf("revoked serials %v, want 0x100 and 0x201", got)
		}
	})

	t.Run("KeyResolver", func(t *testing.T) {
		r := newRegistry(t, fixed)
		kr, ok := r.(telemetry.KeyResolver)
		if !ok {
			t.Fatal("registry does not implement telemetry.KeyResolver")
		}
		known := make(map[iomt.DeviceID]telemetry.DeviceKey)
		enrol := func(pub crypto.PublicKey, serial int64) iomt.DeviceID {
			t.Helper()
			dev, pat := newDevice(t), newPatient(t)
			mustRegister(t, r, dev)
			if err := r.Activate(ctx, provisioning.Enrollment{Device: dev, Patient: pat, PublicKey: pub,
				CertSerial: big.NewInt(serial), CertNotAfter: base.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			known[dev] = telemetry.DeviceKey{Key: pub, Status: telemetry.KeyActive, Patient: pat}
			return dev
		}
		enrol(newKey(t), 1)
		edPub, _, _ := ed25519.GenerateKey(rand.Reader)
		enrol(edPub, 2)
		revoked := enrol(newKey(t), 3)
		if err := r.Revoke(ctx, revoked); err != nil {
			t.Fatal(err)
		}
		k := known[revoked]
		k.Status = telemetry.KeyRevoked
		known[revoked] = k
		telemetrytest.KeyResolver(t, kr, known, newDevice(t))

		// Revocation is visible at once, as the telemetry sentinel.
		if _, err := kr.ResolveDeviceKey(ctx, revoked); !errors.Is(err, telemetry.ErrRevokedDevice) {
			t.Fatalf("revoked device: %v, want telemetry.ErrRevokedDevice", err)
		}
		// Registered but not enrolled: no key to verify with.
		pending := newDevice(t)
		mustRegister(t, r, pending)
		if _, err := kr.ResolveDeviceKey(ctx, pending); !errors.Is(err, telemetry.ErrUnknownDevice) {
			t.Fatalf("unenrolled device: %v, want telemetry.ErrUnknownDevice", err)
		}
		// Decommissioned devices are refused like revoked ones.
		for dev, want := range known {
			if want.Status != telemetry.KeyActive {
				continue
			}
			if err := r.Decommission(ctx, dev); err != nil {
				t.Fatal(err)
			}
			if _, err := kr.ResolveDeviceKey(ctx, dev); !errors.Is(err, telemetry.ErrRevokedDevice) {
				t.Fatalf("decommissioned device: %v, want telemetry.ErrRevokedDevice", err)
			}
			break
		}
	})

	t.Run("List", func(t *testing.T) {
		r := newRegistry(t, fixed)
		l, ok := r.(provisioning.DeviceLister)
		if !ok {
			t.Skip("registry does not implement provisioning.DeviceLister")
		}
		listAll(t, l, provisioning.ListOptions{}) // empty registry: no page
		pat, other := newPatient(t), newPatient(t)
		var all, ofPat, revoked []iomt.DeviceID
		for i := 0; i < 23; i++ {
			dev := newDevice(t)
			mustRegister(t, r, dev)
			all = append(all, dev)
			switch i % 4 {
			case 1, 2:
				p := pat
				if i%4 == 2 {
					p = other
				}
				if err := r.Activate(ctx, provisioning.Enrollment{Device: dev, Patient: p, PublicKey: newKey(t),
					CertSerial: big.NewInt(int64(100 + i)), CertNotAfter: base.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				if p == pat {
					ofPat = append(ofPat, dev)
				}
			case 3:
				if err := r.Revoke(ctx, dev); err != nil {
					t.Fatal(err)
				}
				revoked = append(revoked, dev)
			}
		}
		for _, page := range []int{1, 5, 23, 0} {
			got := listAll(t, l, provisioning.ListOptions{Limit: page})
			if !sameIDs(got, all) {
				t.Fatalf("pages of %d listed %d devices, want all %d in ID order", page, len(got), len(all))
			}
			for _, d := range got {
				want, err := r.Lookup(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d.Status != want.Status || d.Patient != want.Patient || !sameSerial(d.CertSerial, want.CertSerial) ||
					(d.PairingKey == nil) != (want.PairingKey == nil) || (d.PublicKey == nil) != (want.PublicKey == nil) {
					t.Fatalf("listed record of %s differs from Lookup", d.ID)
				}
			}
		}
		if got := listAll(t, l, provisioning.ListOptions{Patient: pat, Limit: 2}); !sameIDs(got, ofPat) {
			t.Fatalf("patient filter listed %d devices, want %d", len(got), len(ofPat))
		}
		if got := listAll(t, l, provisioning.ListOptions{Status: provisioning.StatusRevoked, Limit: 3}); !sameIDs(got, revoked) {
			t.Fatalf("status filter listed %d devices, want %d", len(got), len(revoked))
		}
		if got := listAll(t, l, provisioning.ListOptions{Patient: newPatient(t)}); len(got) != 0 {
			t.Fatalf("unknown patient listed %d devices", len(got))
		}
		// The cursor is exclusive and need not be a registered device.
		sorted := sortedIDs(all)
		page, err := l.List(ctx, provisioning.ListOptions{After: sorted[10], Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if !sameIDs(page, sorted[11:14]) {
			t.Fatalf("page after the 11th device wrong")
		}
		// Invalid options are refused, oversized limits reduced.
		if _, err := l.List(ctx, provisioning.ListOptions{Limit: -1}); !errors.Is(err, provisioning.ErrMalformed) {
			t.Fatalf("negative limit: %v, want ErrMalformed", err)
		}
		if _, err := l.List(ctx, provisioning.ListOptions{Status: "' OR 1=1 --"}); !errors.Is(err, provisioning.ErrMalformed) {
			t.Fatalf("undefined status: %v, want ErrMalformed", err)
		}
		if got, err := l.List(ctx, provisioning.ListOptions{Limit: provisioning.MaxListLimit + 1}); err != nil || len(got) != len(all) {
			t.Fatalf("limit above the maximum: %d devices, %v", len(got), err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := l.List(cctx, provisioning.ListOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("List with canceled context: %v", err)
		}
	})

	t.Run("CheckCertificateBeforeEnrolment", func(t *testing.T) {
		r := newRegistry(t, fixed)
		dev := newDevice(t)
		mustRegister(t, r, dev)
		if err := r.CheckCertificate(ctx, dev, big.NewInt(1)); !errors.Is(err, provisioning.ErrRevoked) {
			t.Fatalf("provisioned device: %v, want ErrRevoked", err)
		}
	})

	t.Run("TokenReplay", func(t *testing.T) {
		r := newRegistry(t, fixed)
		if err := r.ConsumeToken(ctx, "jti-aaaaaaaaaaaaaaaa", base.Add(time.Minute)); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := r.ConsumeToken(ctx, "jti-aaaaaaaaaaaaaaaa", base.Add(time.Minute)); !errors.Is(err, provisioning.ErrReplay) {
			t.Fatalf("second use: %v, want ErrReplay", err)
		}
		if err := r.ConsumeToken(ctx, "jti-bbbbbbbbbbbbbbbb", base.Add(time.Minute)); err != nil {
			t.Fatalf("other token: %v", err)
		}
		if err := r.ConsumeToken(ctx, "", base); err == nil {
			t.Fatal("empty token ID accepted")
		}
	})

	t.Run("TokenReplayConcurrent", func(t *testing.T) {
		r := newRegistry(t, fixed)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- r.ConsumeToken(ctx, "jti-concurrent-0000", base.Add(time.Minute))
			}()
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, provisioning.ErrReplay):
				t.Errorf("concurrent use: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent uses of one token succeeded, want 1", ok)
		}
	})

	t.Run("ContextCanceled", func(t *testing.T) {
		r := newRegistry(t, fixed)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := r.Lookup(cctx, newDevice(t)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Lookup with canceled context: %v", err)
		}
	})
}

// listAll follows the cursor to the end, checking each page's size and
// order.
func listAll(t *testing.T, l provisioning.DeviceLister, opts provisioning.ListOptions) []provisioning.Device {
	t.Helper()
	limit := opts.Limit
	if limit == 0 {
		limit = provisioning.DefaultListLimit
	}
	var out []provisioning.Device
	for range 1000 {
		page, err := l.List(context.Background(), opts)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d devices, limit %d", len(page), limit)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		opts.After = page[len(page)-1].ID
	}
	t.Fatal("listing does not end")
	return nil
}

func sortedIDs(ids []iomt.DeviceID) []iomt.DeviceID {
	s := slices.Clone(ids)
	slices.SortFunc(s, func(a, b iomt.DeviceID) int { return strings.Compare(a.String(), b.String()) })
	return s
}

// sameIDs reports whether got lists exactly want's devices in ascending ID
// order.
func sameIDs(got []provisioning.Device, want []iomt.DeviceID) bool {
	w := sortedIDs(want)
	if len(got) != len(w) {
		return false
	}
	for i := range got {
		if got[i].ID != w[i] {
			return false
		}
	}
	return true
}

func sameSerial(a, b *big.Int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Cmp(b) == 0
}

func serialSet(t *testing.T, r provisioning.Registry) map[int64]bool {
	t.Helper()
	list, err := r.RevokedSerials(context.Background())
	if err != nil {
		t.Fatalf("RevokedSerials: %v", err)
	}
	out := make(map[int64]bool)
	for _, s := range list {
		out[s.Int64()] = true
	}
	return out
}

func newDevice(t *testing.T) iomt.DeviceID {
	id, err := iomt.NewDeviceID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newPatient(t *testing.T) iomt.PatientID {
	id, err := iomt.NewPatientID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newKey(t *testing.T) *ecdsa.PublicKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func mustRegister(t *testing.T, r provisioning.Registry, dev iomt.DeviceID) {
	t.Helper()
	if err := r.Register(context.Background(), dev, nil); err != nil {
		t.Fatalf("Register: %v", err)
	}
}
