package postgres

import (
	"github.com/jackc/pgx/v5"

	"github.com/openiomt/sdk/provisioning"
)

func pgxConfig(dsn string) (*pgx.ConnConfig, error) {
	c, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included: drop it.
		return nil, provisioning.RegistryError("dsn", provisioning.ErrInvalidConfig)
	}
	return c, nil
}
