package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/phisilo"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the PHI silo's local key-encryption keyset",
		Long: `Manage the PHI silo's local tink keyset (the key-encryption key that wraps
every patient's data key).

Rotation without downtime: "keys rotate" adds a new primary version (old
versions still decrypt; running servers pick it up on Keyset.Reload or
restart), "keys rewrap" rewraps every data key under the new primary, and
"keys rewrap --retire" then disables the old versions.

The keyset file holds keys in clear (mode 0600). Deployments with a KMS
encrypt it under a master AEAD from code (phisilo.OpenKeyset); these
commands handle the cleartext file only.`,
	}
	cmd.AddCommand(newKeysInitCmd(), newKeysRotateCmd(), newKeysRewrapCmd())
	return cmd
}

func newKeysInitCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "init --keyset FILE",
		Short: "Create a new keyset file with one key (version 1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usagef("--keyset is required")
			}
			if _, err := os.Stat(path); err == nil {
				return usagef("--keyset: %s exists; refusing to overwrite keys", path)
			}
			ks, err := phisilo.NewKeyset(path, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keyset created: primary version %d\n", ks.PrimaryVersion())
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "keyset", "", "keyset file to create")
	return cmd
}

func openKeyset(path string) (*phisilo.Keyset, error) {
	if path == "" {
		return nil, usagef("--keyset is required")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, usagef("--keyset: %v", err)
	}
	return phisilo.OpenKeyset(path, nil)
}

func newKeysRotateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "rotate --keyset FILE",
		Short: "Add a new primary key version; old versions still decrypt",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := openKeyset(path)
			if err != nil {
				return err
			}
			v, err := ks.Rotate()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rotated: primary version %d, minimum version %d\n", v, ks.MinVersion())
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "keyset", "", "keyset file")
	return cmd
}

func newKeysRewrapCmd() *cobra.Command {
	var path, user, tenant string
	var retire bool
	var store siloStoreFlags
	cmd := &cobra.Command{
		Use:   "rewrap --keyset FILE (--sqlite FILE | --postgres DSN) [--retire]",
		Short: "Rewrap every data key under the primary version; optionally retire older versions",
		Long: `Find every patient data key wrapped under a version older than the
primary, unwrap and rewrap it, in batches, each batch one transaction with
its own audit event (action "rewrap", by --user as admin).

With --retire, once nothing older remains, the minimum decryption version
is raised to the primary: older key versions are disabled and no longer
needed. Exit 1 (rule "rewrap") if a data key cannot be unwrapped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := openKeyset(path)
			if err != nil {
				return err
			}
			b, err := store.open(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			s, err := phisilo.New(phisilo.Config{Backend: b, Keys: ks, Tenant: tenant})
			if err != nil {
				return usagef("%v", err)
			}
			op := phisilo.Principal{UserID: user, Role: phisilo.RoleAdmin, Purpose: phisilo.PurposeSystemAdmin, Source: "iomt-cli"}
			total := 0
			for {
				n, err := s.Rewrap(cmd.Context(), op, 500)
				if err != nil {
					if errors.Is(err, phisilo.ErrDecrypt) || errors.Is(err, phisilo.ErrKeyRetired) || errors.Is(err, phisilo.ErrDenied) {
						return checkFailed("rewrap", err)
					}
					return err
				}
				total += n
				if n == 0 {
					break
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rewrapped %d data keys to version %d\n", total, ks.PrimaryVersion())
			if retire {
				if err := ks.SetMinVersion(ks.PrimaryVersion()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "minimum version now %d\n", ks.MinVersion())
			}
			return nil
		},
	}
	store.register(cmd)
	cmd.Flags().StringVar(&path, "keyset", "", "keyset file")
	cmd.Flags().StringVar(&user, "user", "iomt-cli", "operator user ID recorded in the audit log")
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant recorded in the audit event (default \"default\")")
	cmd.Flags().BoolVar(&retire, "retire", false, "after rewrapping, disable every version older than the primary")
	return cmd
}
