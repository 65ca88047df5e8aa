package ota

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRollbackCounterNeverDecreases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "counter")
	s := NewFileCounterStore(path)
	if v, err := s.Load(ctx); err != nil || v != 0 {
		t.Fatalf("fresh: %d %v", v, err)
	}
	if err := s.Advance(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Advance(ctx, 3); !errors.Is(err, ErrCounterDecrease) {
		t.Fatalf("decrease: %v", err)
	}
	if err := s.Advance(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if v, err := NewFileCounterStore(path).Load(ctx); err != nil || v != 4 {
		t.Fatalf("reload: %d %v", v, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrMalformed) {
		t.Fatalf("corrupt: %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("1", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
}

func TestTrustStoreRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 1, 1, 1, 1)
	s := NewFileTrustStore(filepath.Join(t.TempDir(), "trusted.json"))
	if _, err := s.Load(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fresh: %v", err)
	}
	if err := s.Save(ctx, TrustedState{Root: f.rootBytes, ManifestVersion: 9}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx)
	if err != nil || st.ManifestVersion != 9 {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := ParseRoot(st.Root); err != nil {
		t.Fatalf("stored root: %v", err)
	}
	if err := s.Save(ctx, TrustedState{Root: []byte("{")}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad root saved: %v", err)
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		k, err := GenerateKey(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := k.MarshalPrivateJWK()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParsePrivateKey(priv)
		if err != nil || k2.ID() != k.ID() {
			t.Fatalf("%s: %v", alg, err)
		}
		pub, _ := k.Public().MarshalJSON()
		p2, err := ParsePublicKey(pub)
		if err != nil || p2.ID() != k.ID() || p2.Algorithm() != alg {
			t.Fatalf("%s public: %v", alg, err)
		}
		if _, err := ParsePrivateKey(pub); !errors.Is(err, ErrKey) {
			t.Fatalf("public parsed as private: %v", err)
		}
		if _, err := parsePublicOnly(priv); !errors.Is(err, ErrKey) {
			t.Fatalf("private accepted as root key: %v", err)
		}
		if strings.Contains(k.String(), string(priv)) {
			t.Fatal("String leaks key")
		}
	}
	for _, bad := range []string{`{"kty":"oct","k":"AAAA"}`, `{"kty":"RSA"}`, `not json`, `{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}`} {
		if _, err := ParsePublicKey([]byte(bad)); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
