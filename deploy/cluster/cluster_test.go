package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/deploy/devstack"
	"jardinier/models/modeltest"
)

func TestParseDatabaseURL(t *testing.T) {
	t.Run("the visibility store is the database of the same name with _visibility", func(t *testing.T) {
		d, err := ParseDatabaseURL("postgres://temporal:s3cret@db.example:5433/temporal_prod?sslmode=require")
		require.NoError(t, err)
		assert.Equal(t, Database{Host: "db.example", Port: "5433", User: "temporal", Password: "s3cret",
			Name: "temporal_prod", SSLMode: "require"}, d)
		assert.Equal(t, "temporal_prod_visibility", d.VisibilityName())
	})
	t.Run("a URL without user or database names the variable", func(t *testing.T) {
		for _, raw := range []string{"postgres://127.0.0.1:5432/temporal", "postgres://u@127.0.0.1:5432/", "mysql://u@h/db", "::"} {
			_, err := ParseDatabaseURL(raw)
			assert.ErrorContains(t, err, "TEMPORAL_DATABASE_URL", raw)
		}
	})
}

// TestSetupSchemasTwice makes Temporal's databases on the test PostgreSQL server with
// the real schema tool, twice: the second run changes nothing and fails nothing, as
// at every start of `make cluster`.
func TestSetupSchemasTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("needs bin/temporal-sql-tool and PostgreSQL")
	}
	tool, err := devstack.Binary(SQLToolBinary)
	require.NoError(t, err)
	url := modeltest.NewDatabaseURL(t) // a fresh name; the tool creates the database
	db, err := ParseDatabaseURL(url)
	require.NoError(t, err)
	db.Name += "_temporal"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { assert.NoError(t, DropDatabases(context.Background(), db)) })
	require.NoError(t, SetupSchemas(ctx, tool, db, nil))
	require.NoError(t, SetupSchemas(ctx, tool, db, nil))
	for _, name := range []string{db.Name, db.VisibilityName()} {
		exists, err := databaseExists(ctx, db, name)
		require.NoError(t, err)
		assert.True(t, exists, name)
	}
}
