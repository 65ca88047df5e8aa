package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
)

// TestMigrateAddsGranteeColumn: a database created before grants had an
// indexed grantee column is migrated on open, and its existing grants are
// found by GrantsTo.
func TestMigrateAddsGranteeColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	b := openAt(t, path)
	ctx := context.Background()
	p, _ := phisilo.NewPatientID(nil)
	now := time.Now().UTC()
	body, _ := json.Marshal(phisilo.Grant{ID: "g1", Patient: p, Grantee: "dr", GranteeRole: phisilo.RoleClinician,
		Sections: []phisilo.Section{phisilo.SectionContact}, NotBefore: now, Expires: now.Add(time.Hour), Created: now})
	for _, q := range []string{
		`DROP INDEX phisilo_grants_grantee`,
		`ALTER TABLE phisilo_grants DROP COLUMN grantee`,
	} {
		if _, err := b.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.DB.ExecContext(ctx, `INSERT INTO phisilo_grants (tenant, id, patient, body) VALUES ('t', 'g1', ?, ?)`, p[:], body); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openAt(t, path)
	defer b.Close()
	err := b.Update(ctx, func(tx phisilo.Tx) error {
		gs, err := tx.GrantsTo(ctx, "t", "dr")
		if err == nil && (len(gs) != 1 || gs[0].ID != "g1") {
			t.Errorf("GrantsTo after migration: %d grants", len(gs))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
