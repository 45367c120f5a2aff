package nextcloud_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// fleetFixture is a FleetDB on the test server, and an admin connection of the test's
// own to look at the server's catalog.
type fleetFixture struct {
	ctx   context.Context
	fleet *nextcloud.FleetDB
	admin *gorm.DB
}

// setupFleet connects a FleetDB to the test PostgreSQL server.
func setupFleet(t *testing.T) *fleetFixture {
	t.Helper()
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	admin, err := gorm.Open(postgres.Open(modeltest.ServerURL()), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err, "connect to the test PostgreSQL server %s", modeltest.ServerURL())
	t.Cleanup(func() {
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return &fleetFixture{ctx: t.Context(), fleet: fleet, admin: admin}
}

// slug returns a slug no other test uses, whose database and role are dropped when
// the test ends.
func (f *fleetFixture) slug(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	slug := "test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		assert.NoError(t, f.fleet.Drop(context.Background(), slug), "drop %s", slug)
	})
	return slug
}

// catalog says what the server's catalog holds for slug, without going through FleetDB.
type catalog struct {
	Database  bool
	Role      bool
	Owner     string // of the database
	CanLogin  bool   // the role
	Encoding  string // of the database
	Superuser bool   // the role
}

func (f *fleetFixture) catalog(t *testing.T, slug string) catalog {
	t.Helper()
	database, role := f.fleet.Names(slug)
	var c catalog
	require.NoError(t, f.admin.Raw(`SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding)
		FROM pg_database WHERE datname = ?`, database).Row().Scan(&c.Owner, &c.Encoding))
	c.Database = c.Owner != ""
	require.NoError(t, f.admin.Raw(`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?),
		COALESCE((SELECT rolcanlogin FROM pg_roles WHERE rolname = ?), false),
		COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = ?), false)`, role, role, role).
		Row().Scan(&c.Role, &c.CanLogin, &c.Superuser))
	return c
}

// catalogOrNothing is catalog for a database that may not exist.
func (f *fleetFixture) catalogOrNothing(t *testing.T, slug string) catalog {
	t.Helper()
	database, role := f.fleet.Names(slug)
	var c catalog
	require.NoError(t, f.admin.Raw(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?),
		EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)`, database, role).Row().Scan(&c.Database, &c.Role))
	return c
}

func TestFleetDBNames(t *testing.T) {
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	defer fleet.Close()

	t.Run("database and role are nc_ and the slug with underscores", func(t *testing.T) {
		database, role := fleet.Names("les-amis-du-jardin")
		assert.Equal(t, "nc_les_amis_du_jardin", database)
		assert.Equal(t, "nc_les_amis_du_jardin", role)
	})

	t.Run("the longest slug fits PostgreSQL's 63-byte names", func(t *testing.T) {
		database, _ := fleet.Names(strings.Repeat("a", models.MaxSlugLength))
		assert.LessOrEqual(t, len(database), 63)
	})
}

func TestNewFleetDB(t *testing.T) {
	t.Run("accepts postgres and postgresql URLs without connecting", func(t *testing.T) {
		for _, u := range []string{
			"postgres://admin:pw@db.invalid:5432/postgres",
			"postgresql://admin@db.invalid/postgres?sslmode=require",
		} {
			fleet, err := nextcloud.NewFleetDB(u)
			require.NoError(t, err, u)
			assert.NoError(t, fleet.Close())
		}
	})

	t.Run("refuses what is not a postgres URL, without quoting it", func(t *testing.T) {
		for _, u := range []string{"", "mysql://root:secret-pw@db/fleet", "postgres:///postgres",
			"host=db user=admin password=secret-pw", "postgres://a:secret-pw@db:port/x"} {
			_, err := nextcloud.NewFleetDB(u)
			require.Error(t, err, u)
			assert.NotContains(t, err.Error(), "secret-pw")
		}
	})
}

func TestFleetDBCreate(t *testing.T) {
	f := setupFleet(t)

	t.Run("creates a role that can log in and a UTF-8 database it owns", func(t *testing.T) {
		slug := f.slug(t)
		require.NoError(t, f.fleet.Create(f.ctx, slug))

		_, role := f.fleet.Names(slug)
		c := f.catalog(t, slug)
		assert.True(t, c.Database)
		assert.True(t, c.Role)
		assert.Equal(t, role, c.Owner)
		assert.True(t, c.CanLogin)
		assert.False(t, c.Superuser)
		assert.Equal(t, "UTF8", c.Encoding)
		dbExists, roleExists, err := f.fleet.Exists(f.ctx, slug)
		require.NoError(t, err)
		assert.True(t, dbExists)
		assert.True(t, roleExists)
	})

	t.Run("creating twice succeeds and changes nothing", func(t *testing.T) {
		slug := f.slug(t)
		require.NoError(t, f.fleet.Create(f.ctx, slug))
		before := f.catalog(t, slug)
		require.NoError(t, f.fleet.Create(f.ctx, slug))
		assert.Equal(t, before, f.catalog(t, slug))
	})

	t.Run("finishes the job after a failure between role and database", func(t *testing.T) {
		slug := f.slug(t)
		_, role := f.fleet.Names(slug)
		require.NoError(t, f.admin.Exec(`CREATE ROLE "`+role+`" LOGIN`).Error)

		require.NoError(t, f.fleet.Create(f.ctx, slug))
		c := f.catalog(t, slug)
		assert.True(t, c.Database)
		assert.Equal(t, role, c.Owner)
	})

	t.Run("several spaces at once, and the same space from several callers", func(t *testing.T) {
		slugs := make([]string, 6)
		for i := range slugs {
			slugs[i] = f.slug(t)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 3*len(slugs))
		for _, slug := range slugs {
			for range 3 {
				wg.Go(func() { errs <- f.fleet.Create(f.ctx, slug) })
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		for _, slug := range slugs {
			c := f.catalog(t, slug)
			assert.True(t, c.Database && c.Role, slug)
		}
	})
}

func TestFleetDBDrop(t *testing.T) {
	f := setupFleet(t)

	t.Run("dropping twice succeeds and leaves neither database nor role", func(t *testing.T) {
		slug := f.slug(t)
		require.NoError(t, f.fleet.Create(f.ctx, slug))

		require.NoError(t, f.fleet.Drop(f.ctx, slug))
		require.NoError(t, f.fleet.Drop(f.ctx, slug))

		assert.Equal(t, catalog{}, f.catalogOrNothing(t, slug))
		dbExists, roleExists, err := f.fleet.Exists(f.ctx, slug)
		require.NoError(t, err)
		assert.False(t, dbExists)
		assert.False(t, roleExists)
	})

	t.Run("closes the sessions still open on the database", func(t *testing.T) {
		slug := f.slug(t)
		require.NoError(t, f.fleet.Create(f.ctx, slug))
		database, _ := f.fleet.Names(slug)
		session := openDatabase(t, database)

		require.NoError(t, f.fleet.Drop(f.ctx, slug))
		assert.Equal(t, catalog{}, f.catalogOrNothing(t, slug))
		assert.Error(t, session.Exec("SELECT 1").Error, "the session was closed")
	})

	t.Run("drops the role left by a failure before the database was created", func(t *testing.T) {
		slug := f.slug(t)
		_, role := f.fleet.Names(slug)
		require.NoError(t, f.admin.Exec(`CREATE ROLE "`+role+`" LOGIN`).Error)

		require.NoError(t, f.fleet.Drop(f.ctx, slug))
		assert.Equal(t, catalog{}, f.catalogOrNothing(t, slug))
	})

	t.Run("succeeds for a space never created", func(t *testing.T) {
		assert.NoError(t, f.fleet.Drop(f.ctx, f.slug(t)))
	})
}

func TestFleetDBRefusesMalformedSlugs(t *testing.T) {
	f := setupFleet(t)
	for _, slug := range []string{"", "Les-Jardins", "les_jardins", "-jardin", "jardin-", "les jardins",
		`x"; DROP DATABASE postgres; --`, "../etc", "jardin\x00", "café", strings.Repeat("a", models.MaxSlugLength+1)} {
		t.Run(fmt.Sprintf("%q", slug), func(t *testing.T) {
			assert.ErrorIs(t, f.fleet.Create(f.ctx, slug), nextcloud.ErrPermanent)
			assert.ErrorIs(t, f.fleet.Drop(f.ctx, slug), nextcloud.ErrPermanent)
			_, _, err := f.fleet.Exists(f.ctx, slug)
			assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		})
	}
}

// openDatabase opens a session on a database of the test server, closed when the test
// ends.
func openDatabase(t *testing.T, database string) *gorm.DB {
	t.Helper()
	u, err := url.Parse(modeltest.ServerURL())
	require.NoError(t, err)
	u.Path = "/" + database
	db, err := gorm.Open(postgres.Open(u.String()), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	sqlDB, err := db.DB()
	require.NoError(t, err)
	sqlDB.SetMaxOpenConns(1)
	require.NoError(t, db.Exec("SELECT 1").Error)
	t.Cleanup(func() { sqlDB.Close() })
	return db
}
