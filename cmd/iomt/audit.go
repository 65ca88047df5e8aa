package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/postgres"
	"github.com/openiomt/sdk/phisilo/sqlite"
)

// siloStoreFlags selects the PHI silo's backend.
type siloStoreFlags struct {
	sqlite   string
	postgres string
}

func (f *siloStoreFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.sqlite, "sqlite", "", "SQLite database file of the silo")
	cmd.Flags().StringVar(&f.postgres, "postgres", "", "PostgreSQL DSN of the silo (or set IOMT_PHISILO_POSTGRES_DSN, which keeps the password out of the process list)")
}

func (f *siloStoreFlags) open(ctx context.Context) (phisilo.Backend, error) {
	dsn := f.postgres
	if dsn == "" {
		dsn = os.Getenv("IOMT_PHISILO_POSTGRES_DSN")
	}
	switch {
	case f.sqlite != "" && dsn != "":
		return nil, usagef("give one of --sqlite and --postgres")
	case f.sqlite != "":
		if _, err := os.Stat(f.sqlite); err != nil {
			return nil, usagef("--sqlite: %v", err)
		}
		return sqlite.Open(ctx, sqlite.Config{Path: f.sqlite})
	case dsn != "":
		return postgres.Open(ctx, postgres.Config{DSN: dsn})
	}
	return nil, usagef("one of --sqlite or --postgres is required")
}

// maxJWKFile bounds a key file read by the CLI.
const maxJWKFile = 64 << 10

func readJWK(path string) (jwk.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("key file: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJWKFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKFile {
		return nil, usagef("key file: larger than %d bytes", maxJWKFile)
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		return nil, usagef("key file: not a JWK")
	}
	return k, nil
}

func readPublicJWK(path string) (crypto.PublicKey, error) {
	k, err := readJWK(path)
	if err != nil {
		return nil, err
	}
	pk, err := k.PublicKey()
	if err != nil {
		return nil, usagef("key file: no public key")
	}
	var raw any
	if err := jwk.Export(pk, &raw); err != nil {
		return nil, usagef("key file: unsupported key")
	}
	return raw, nil
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and export the PHI silo's hash-chained audit log",
		Long: `Verify and export the PHI silo's audit log.

Every access to the silo, allowed or denied, is an entry in a hash chain;
signed checkpoints (JWS over the chain head) cover rewrites that recompute
the hashes. These commands read the silo database directly: anyone who can
run them can already read the database, so they are operator tools.`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditExportCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var store siloStoreFlags
	var keyPath string
	var every uint64
	cmd := &cobra.Command{
		Use:   "verify (--sqlite FILE | --postgres DSN) [--checkpoint-key PUB.jwk [--checkpoint-every N]]",
		Short: "Verify the audit chain and its signed checkpoints",
		Long: `Recompute the audit hash chain from the first entry, check every signed
checkpoint against the public key, and report the first bad entry.

Prints "ok: N entries verified" and exits 0, or names the first entry that
fails (edited, deleted, inserted, reordered, truncated) on stderr and exits 1
with rule "audit-chain". Without --checkpoint-key only the chain is checked.
--checkpoint-every N also requires a checkpoint at every multiple of N.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := phisilo.VerifyOptions{CheckpointEvery: every}
			if keyPath != "" {
				pub, err := readPublicJWK(keyPath)
				if err != nil {
					return err
				}
				opts.PublicKey = pub
			} else if every != 0 {
				return usagef("--checkpoint-every needs --checkpoint-key")
			}
			b, err := store.open(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			n, err := phisilo.VerifyAudit(cmd.Context(), b, opts)
			if err != nil {
				if errors.Is(err, phisilo.ErrAuditTampered) {
					return checkFailed("audit-chain", err)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d entries verified\n", n)
			return nil
		},
	}
	store.register(cmd)
	cmd.Flags().StringVar(&keyPath, "checkpoint-key", "", "JWK file with the checkpoint public key (Ed25519 or P-256)")
	cmd.Flags().Uint64Var(&every, "checkpoint-every", 0, "require a checkpoint at every multiple of N entries")
	return cmd
}

func newAuditExportCmd() *cobra.Command {
	var store siloStoreFlags
	var format, out string
	var after uint64
	var limit int
	cmd := &cobra.Command{
		Use:   "export (--sqlite FILE | --postgres DSN) --format jsonl|fhir|cef [--after N] [--limit N] [-o FILE]",
		Short: "Export audit events as JSON lines, FHIR R4 AuditEvent or CEF",
		Long: `Export audit events in sequence order.

  jsonl  one {"seq","hash","event"} object per line
  fhir   one FHIR R4 AuditEvent resource per line (NDJSON)
  cef    one Common Event Format line per event, for a SIEM

--after N starts after entry N (for incremental shipping); --limit bounds
the number of events (0: all). Writes to stdout unless -o is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := phisilo.ParseExportFormat(format)
			if err != nil {
				return usagef("--format must be jsonl, fhir or cef")
			}
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			b, err := store.open(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			w := cmd.OutOrStdout()
			if out != "" {
				file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return usagef("-o: %v", err)
				}
				defer file.Close()
				w = file
			}
			done := 0
			for limit == 0 || done < limit {
				page, err := b.Audit(cmd.Context(), after, 1000)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					break
				}
				recs := make([]phisilo.AuditRecord, 0, len(page))
				for _, e := range page {
					if limit != 0 && done+len(recs) >= limit {
						break
					}
					r, err := phisilo.DecodeAuditEntry(e)
					if err != nil {
						return checkFailed("audit-entry", fmt.Errorf("entry %d: %w", e.Seq, err))
					}
					recs = append(recs, r)
				}
				if err := phisilo.ExportAudit(w, f, recs); err != nil {
					return err
				}
				done += len(recs)
				after = page[len(page)-1].Seq
			}
			return nil
		},
	}
	store.register(cmd)
	cmd.Flags().StringVar(&format, "format", "jsonl", "jsonl, fhir or cef")
	cmd.Flags().Uint64Var(&after, "after", 0, "export entries after this sequence number")
	cmd.Flags().IntVar(&limit, "limit", 0, "export at most N events (0: all)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write to FILE (mode 0600) instead of stdout")
	return cmd
}
