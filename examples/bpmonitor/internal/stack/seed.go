package stack

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/openiomt/sdk/phisilo"
)

// DemoAccount is a demo login printed at start-up.
type DemoAccount struct {
	UserID   string       `json:"user_id"`
	Password string       `json:"password"`
	Role     phisilo.Role `json:"role"`
	Purpose  string       `json:"purpose"`
	Note     string       `json:"note"`
}

// setupPrincipal is the stack's own identity when it creates the first staff
// accounts: phisilo lets admins create accounts, and someone has to be the
// first. It is recorded in the audit log like any other admin.
var setupPrincipal = phisilo.Principal{UserID: "bpmonitor-setup", Role: phisilo.RoleAdmin, Purpose: phisilo.PurposeSystemAdmin, Source: "bpmonitor"}

// newPassword returns a random demo password (24 base32 characters, 120 bits).
func newPassword(r io.Reader) (string, error) {
	var b [15]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:])), nil
}

// SeedStaff creates the demo staff accounts once and keeps their random
// passwords in DIR/demo-accounts.json (0600), so a restarted stack prints
// the same ones. Demo only: real deployments enrol staff through their
// identity provider.
func SeedStaff(ctx context.Context, phi *PHI, dir string, rnd io.Reader) ([]DemoAccount, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	path := filepath.Join(dir, "demo-accounts.json")
	if b, err := os.ReadFile(path); err == nil {
		var accts []DemoAccount
		if err := json.Unmarshal(b, &accts); err != nil {
			return nil, fmt.Errorf("demo accounts file: %w", err)
		}
		return accts, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	accts := []DemoAccount{
		{UserID: "admin", Role: phisilo.RoleAdmin, Purpose: string(phisilo.PurposeSystemAdmin), Note: "devices, updates, audit log, SBOM"},
		{UserID: "dr.lee", Role: phisilo.RoleClinician, Purpose: string(phisilo.PurposeTreatment), Note: "sees patients who shared with her"},
		{UserID: "jordan", Role: phisilo.RoleCaregiver, Purpose: string(phisilo.PurposeCaregiving), Note: "family member"},
		{UserID: "support", Role: phisilo.RoleSupport, Purpose: string(phisilo.PurposeOperations), Note: "de-identified view"},
	}
	for i := range accts {
		pw, err := newPassword(rnd)
		if err != nil {
			return nil, err
		}
		accts[i].Password = pw
		err = phi.Silo.CreateAccount(ctx, setupPrincipal, phisilo.NewAccount{UserID: accts[i].UserID, Role: accts[i].Role, Password: pw})
		if err != nil {
			return nil, fmt.Errorf("create demo account %s: %w", accts[i].UserID, err)
		}
	}
	b, _ := json.MarshalIndent(accts, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return accts, nil
}
