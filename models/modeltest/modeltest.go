// Package modeltest gives tests a fresh, migrated PostgreSQL database of their own.
package modeltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"jardinier/models"
)

// ServerURL is the PostgreSQL server tests use: TEST_DATABASE_URL, or the local one.
func ServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabaseURL creates an empty database for the test, dropped when it ends, and
// returns its URL.
func NewDatabaseURL(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "jardinier_test_" + hex.EncodeToString(b)
	admin, err := gorm.Open(postgres.Open(ServerURL()), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err, "connect to the test PostgreSQL server %s", ServerURL())
	require.NoError(t, admin.Exec(`CREATE DATABASE "`+name+`"`).Error)
	t.Cleanup(func() {
		admin.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	u, err := url.Parse(ServerURL())
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// NewDB returns a connection to a fresh, migrated database for the test.
func NewDB(t testing.TB) *gorm.DB {
	t.Helper()
	dsn := NewDatabaseURL(t)
	db, err := models.OpenDB(context.Background(), dsn, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

// CreateApplication stores a complete application for slug, submitted at, with the
// contact address <slug>@asso.example.
func CreateApplication(t testing.TB, db *gorm.DB, slug string, at time.Time) models.Application {
	t.Helper()
	budget := int64(8_000)
	app := models.Application{ID: uuid.NewString(), Slug: slug,
		OrganizationName: "Les Amis du Jardin partagé", OrganizationType: models.OrgAssociation1901,
		Sectors: pq.StringArray{"environment"}, FoundedYear: 2012, Members: 40, AnnualBudgetEUR: &budget,
		Mission: "Cultiver ensemble.", Actions: "Ateliers.", Needs: "Partager des fichiers.",
		AccountsNeeded: 5, OfficeSuite: models.OfficeCollabora, ContactEmail: slug + "@asso.example",
		WorksInFrench: true, StorageNeededGB: 5,
		TermsAcceptedAt: at, CreatedAt: at}
	require.NoError(t, db.Create(&app).Error)
	return app
}

// SecretKey is a fixed key for tests.
var SecretKey = []byte("0123456789abcdef0123456789abcdef")
