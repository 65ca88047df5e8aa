package stack

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/postgres"
	"github.com/openiomt/sdk/phisilo/sqlite"
)

// PHIConfig configures [OpenPHI].
type PHIConfig struct {
	// Dir holds the key-encryption keyset, the audit checkpoint key and,
	// without Postgres, the SQLite database. Created with mode 0700.
	Dir string
	// Postgres, when set, is the DSN of the silo's PostgreSQL database.
	Postgres string
	// IdleTimeout logs portal sessions off after that long without use.
	IdleTimeout time.Duration
	// PasswordIterations is passed to phisilo (zero: its default).
	PasswordIterations int
	Now                func() time.Time
	Logger             *slog.Logger
}

// PHI is the PHI silo of the stack with its backend and keys.
type PHI struct {
	Silo    *phisilo.Silo
	backend phisilo.Backend
	idle    time.Duration
}

// OpenPHI opens (or creates) the PHI silo in cfg.Dir.
//
// The key-encryption keyset is a local tink keyset file in clear (mode
// 0600): fine for the demo, and exactly what a production deployment
// replaces with a KMS AEAD (phisilo.AEADKeyManager).
func OpenPHI(ctx context.Context, cfg PHIConfig) (*PHI, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	keysPath := filepath.Join(cfg.Dir, "kek-keyset.json")
	var keys *phisilo.Keyset
	var err error
	if _, statErr := os.Stat(keysPath); statErr == nil {
		keys, err = phisilo.OpenKeyset(keysPath, nil)
	} else {
		keys, err = phisilo.NewKeyset(keysPath, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("phi keyset: %w", err)
	}
	ckey, err := loadOrCreateEd25519(filepath.Join(cfg.Dir, "audit-checkpoint.key"))
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	var backend phisilo.Backend
	if cfg.Postgres != "" {
		backend, err = postgres.Open(ctx, postgres.Config{DSN: cfg.Postgres})
	} else {
		backend, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.Dir, "phi.db")})
	}
	if err != nil {
		return nil, fmt.Errorf("phi backend: %w", err)
	}
	silo, err := phisilo.New(phisilo.Config{
		Backend:            backend,
		Keys:               keys,
		Tenant:             "bpmonitor-demo",
		Now:                cfg.Now,
		Logger:             cfg.Logger,
		CheckpointKey:      ckey,
		CheckpointEvery:    25,
		PasswordIterations: cfg.PasswordIterations,
		SessionIdleTimeout: cfg.IdleTimeout,
	})
	if err != nil {
		_ = backend.Close()
		return nil, err
	}
	return &PHI{Silo: silo, backend: backend, idle: cfg.IdleTimeout}, nil
}

// Close closes the backend.
func (p *PHI) Close() error { return p.backend.Close() }

// loadOrCreateEd25519 keeps a signing key in a PKCS#8 PEM file (0600).
func loadOrCreateEd25519(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, errors.New("not PEM")
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("not an Ed25519 key")
		}
		return ek, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return k, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
