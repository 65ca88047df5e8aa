package phisilo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/memory"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

var admin = phisilo.Principal{UserID: "root", Role: phisilo.RoleAdmin, Purpose: phisilo.PurposeSystemAdmin}

func TestRotationRewrapAndMinimumVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyset.json")
	ks, err := phisilo.NewKeyset(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := phisilo.New(phisilo.Config{Backend: memory.New(), Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	id1, err := s.Register(ctx, selfReg, markerRecord(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p1 := phisilo.Principal{UserID: "p1", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id1}
	if v, err := ks.Rotate(); err != nil || v != 2 {
		t.Fatalf("Rotate = %d, %v", v, err)
	}
	if _, err := s.Get(ctx, p1, id1); err != nil {
		t.Fatalf("v1 record after rotation: %v", err)
	}
	id2, err := s.Register(ctx, selfReg, markerRecord(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Raising the minimum before rewrapping strands v1 rows.
	if err := ks.SetMinVersion(2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, p1, id1); !errors.Is(err, phisilo.ErrKeyRetired) {
		t.Fatalf("v1 record with min=2: %v, want ErrKeyRetired", err)
	}
	if err := ks.SetMinVersion(1); err != nil {
		t.Fatal(err)
	}
	n, err := s.Rewrap(ctx, admin, 100)
	if err != nil || n != 1 {
		t.Fatalf("Rewrap = %d, %v; want 1 (only the v1 row)", n, err)
	}
	if n, _ := s.Rewrap(ctx, admin, 100); n != 0 {
		t.Fatalf("second Rewrap = %d, want 0", n)
	}
	if err := ks.SetMinVersion(2); err != nil {
		t.Fatal(err)
	}
	// A fresh process reading the file sees the same state.
	ks2, err := phisilo.OpenKeyset(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ks2.PrimaryVersion() != 2 || ks2.MinVersion() != 2 {
		t.Fatalf("reopened keyset primary %d min %d", ks2.PrimaryVersion(), ks2.MinVersion())
	}
	for _, id := range []phisilo.PatientID{id1, id2} {
		p := phisilo.Principal{UserID: "p", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
		if _, err := s.Get(ctx, p, id); err != nil {
			t.Fatalf("after rewrap and min=2: %v", err)
		}
	}
	if _, err := s.Rewrap(ctx, p1, 10); !errors.Is(err, phisilo.ErrDenied) {
		t.Fatalf("patient rewrap: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyset file mode: %v", err)
	}
	if _, err := phisilo.NewKeyset(path, nil); !errors.Is(err, phisilo.ErrExists) {
		t.Fatalf("NewKeyset over an existing keyset: %v, want ErrExists", err)
	}
}

// TestKeysetEncryptedUnderMasterAEAD: with a KMS-style master AEAD the file
// holds no usable key material and cannot be opened without the master.
func TestKeysetEncryptedUnderMasterAEAD(t *testing.T) {
	mh, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	master, err := aead.New(mh)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := phisilo.NewKeyset(path, master); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "encryptedKeyset") {
		t.Fatalf("keyset file not encrypted")
	}
	if _, err := phisilo.OpenKeyset(path, nil); err == nil {
		t.Fatalf("encrypted keyset opened without its master")
	}
	if _, err := phisilo.OpenKeyset(path, master); err != nil {
		t.Fatal(err)
	}
}

// TestAEADKeyManagerBindsPatient: a KEK from any tink.AEAD (a KMS) wraps
// with the patient bound, so a wrapped key moved to another row fails.
func TestSwapWrappedKeyBetweenPatientsFails(t *testing.T) {
	mh, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	kek, _ := aead.New(mh)
	mem := memory.New()
	s, err := phisilo.New(phisilo.Config{Backend: mem, Keys: &phisilo.AEADKeyManager{AEAD: kek, Version: 7}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := s.Register(ctx, selfReg, markerRecord(), nil)
	b, _ := s.Register(ctx, selfReg, markerRecord(), nil)
	err = mem.Update(ctx, func(tx phisilo.Tx) error {
		ka, _ := tx.Key(ctx, "default", a)
		kb, _ := tx.Key(ctx, "default", b)
		if ka.KEKVersion != 7 {
			t.Errorf("KEK version %d, want 7", ka.KEKVersion)
		}
		ka.Patient, kb.Patient = b, a
		if err := tx.PutKey(ctx, ka); err != nil {
			return err
		}
		return tx.PutKey(ctx, kb)
	})
	if err != nil {
		t.Fatal(err)
	}
	pa := phisilo.Principal{UserID: "a", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: a}
	if _, err := s.Get(ctx, pa, a); !errors.Is(err, phisilo.ErrDecrypt) {
		t.Fatalf("swapped wrapped key: %v, want ErrDecrypt", err)
	}
}
