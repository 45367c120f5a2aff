package models_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"jardinier/models"
	"jardinier/models/modeltest"
)

// tables are the tables Migrate must create.
var tables = []any{&models.Application{}, &models.Space{}, &models.Moderator{},
	&models.AuditEvent{}, &models.SentMail{}}

// openServer connects to the test PostgreSQL server's maintenance database.
func openServer(t *testing.T) *gorm.DB {
	t.Helper()
	admin, err := gorm.Open(postgres.Open(modeltest.ServerURL()), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err, "connect to the test PostgreSQL server %s", modeltest.ServerURL())
	t.Cleanup(func() { closeDB(admin) })
	return admin
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

// databaseExists reports whether the server has a database by that name.
func databaseExists(t *testing.T, admin *gorm.DB, name string) bool {
	t.Helper()
	var n int64
	require.NoError(t, admin.Raw("SELECT count(*) FROM pg_database WHERE datname = ?", name).Scan(&n).Error)
	return n > 0
}

// openEmpty connects to a fresh database that has no tables yet.
func openEmpty(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(postgres.Open(modeltest.NewDatabaseURL(t)), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { closeDB(db) })
	return db
}

// insertSpace adds a space row holding slug in this status.
func insertSpace(t *testing.T, db *gorm.DB, slug string, status models.Status) error {
	t.Helper()
	return db.Create(&models.Space{Slug: slug, Status: status, OfficeSuite: models.OfficeCollabora,
		SubmittedAt: time.Now()}).Error
}

func TestOpenDB(t *testing.T) {
	t.Run("creates the database when the server has none by that name", func(t *testing.T) {
		admin := openServer(t)
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		name := "jardinier_test_open_" + hex.EncodeToString(b)
		t.Cleanup(func() { admin.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`) })
		u, err := url.Parse(modeltest.ServerURL())
		require.NoError(t, err)
		u.Path = "/" + name
		require.False(t, databaseExists(t, admin, name))

		db, err := models.OpenDB(context.Background(), u.String(), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(func() { closeDB(db) })

		assert.True(t, databaseExists(t, admin, name))
		for _, table := range tables {
			assert.True(t, db.Migrator().HasTable(table), "table of %T", table)
		}

		again, err := models.OpenDB(context.Background(), u.String(), slog.New(slog.DiscardHandler))
		require.NoError(t, err, "opening an existing database")
		closeDB(again)
	})

	t.Run("reports a server it cannot reach", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := models.OpenDB(ctx, "postgres://postgres@127.0.0.1:1/jardinier?sslmode=disable&connect_timeout=2",
			slog.New(slog.DiscardHandler))
		assert.Error(t, err)
	})
}

func TestMigrate(t *testing.T) {
	t.Run("running it again on an up-to-date schema changes nothing and keeps the data", func(t *testing.T) {
		db := modeltest.NewDB(t)
		require.NoError(t, insertSpace(t, db, "amis-du-jardin", models.StatusActive))

		require.NoError(t, models.Migrate(db))
		require.NoError(t, models.Migrate(db))

		var spaces []models.Space
		require.NoError(t, db.Find(&spaces).Error)
		require.Len(t, spaces, 1)
		assert.Equal(t, "amis-du-jardin", spaces[0].Slug)
		assert.True(t, db.Migrator().HasIndex(&models.Space{}, "idx_spaces_open_slug"))
	})

	t.Run("several processes can migrate the same empty database at once", func(t *testing.T) {
		db := openEmpty(t)
		const processes = 6
		errs := make([]error, processes)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range processes {
			wg.Go(func() {
				<-start
				errs[i] = models.Migrate(db)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "process %d", i)
		}
		for _, table := range tables {
			assert.True(t, db.Migrator().HasTable(table), "table of %T", table)
		}
	})
}

func TestOpenSlugIndex(t *testing.T) {
	// setup: one database for every case; each case uses its own slug.
	db := modeltest.NewDB(t)

	t.Run("refuses a second open space with the same slug", func(t *testing.T) {
		require.NoError(t, insertSpace(t, db, "deux-fois", models.StatusSubmitted))
		err := insertSpace(t, db, "deux-fois", models.StatusSubmitted)
		requireOpenSlugConflict(t, err)
	})

	t.Run("lets a rejected or deleted space's slug be taken again", func(t *testing.T) {
		require.NoError(t, insertSpace(t, db, "seconde-chance", models.StatusRejected))
		require.NoError(t, insertSpace(t, db, "seconde-chance", models.StatusDeleted))
		require.NoError(t, insertSpace(t, db, "seconde-chance", models.StatusRejected))
		require.NoError(t, insertSpace(t, db, "seconde-chance", models.StatusSubmitted))
		requireOpenSlugConflict(t, insertSpace(t, db, "seconde-chance", models.StatusSubmitted))
	})

	t.Run("frees the slug when the open space holding it is deleted", func(t *testing.T) {
		require.NoError(t, insertSpace(t, db, "liberee", models.StatusActive))
		require.NoError(t, db.Model(&models.Space{}).Where("slug = ?", "liberee").
			Update("status", models.StatusDeleted).Error)
		assert.NoError(t, insertSpace(t, db, "liberee", models.StatusSubmitted))
	})

	t.Run("holds the slug in exactly the statuses that count as open", func(t *testing.T) {
		for _, status := range models.Statuses {
			slug := "tenu-" + string(status)
			require.NoError(t, insertSpace(t, db, slug, status))
			err := insertSpace(t, db, slug, models.StatusSubmitted)
			if status.Open() {
				requireOpenSlugConflict(t, err)
			} else {
				assert.NoError(t, err, "a %s space must not hold its slug", status)
			}
		}
	})
}

// requireOpenSlugConflict checks that err is a violation of the open slug index.
func requireOpenSlugConflict(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want a PostgreSQL error, got %v", err)
	assert.Equal(t, "23505", pgErr.Code, fmt.Sprintf("unique violation, got %v", err))
	assert.Equal(t, "idx_spaces_open_slug", pgErr.ConstraintName)
}
