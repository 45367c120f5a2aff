package nextcloud

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"jardinier/models"
)

// fleetDBMaxConns bounds the admin connections a FleetDB opens: creating and dropping
// databases is heavy for the server, and its connection slots belong to the spaces.
const fleetDBMaxConns = 4

// fleetNamePrefix starts the name of every space's database and role, so that they
// cannot clash with the service's own.
const fleetNamePrefix = "nc_"

// The PostgreSQL error codes that mean another session created or dropped the same
// object first.
const (
	pgDuplicateObject   = "42710" // CREATE ROLE of an existing role
	pgDuplicateDatabase = "42P04" // CREATE DATABASE of an existing database
	pgUniqueViolation   = "23505" // either, when two sessions race on the catalog
	pgUndefinedObject   = "42704" // DROP ROLE of a role dropped meanwhile
	pgInvalidCatalog    = "3D000" // DROP DATABASE of a database dropped meanwhile
)

// fleetSlugPattern is what a slug must look like to name a database: the characters
// models.ValidateSlug allows, which need no escaping in SQL or in a file name.
var fleetSlugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// FleetDB creates and drops the spaces' databases and roles on the fleet's PostgreSQL
// server. It connects with an admin role that has CREATEDB and CREATEROLE and may SET
// ROLE to the roles it creates (a superuser, or createrole_self_grant = 'set' from
// PostgreSQL 16), directly rather than through a transaction pooler, since CREATE
// DATABASE cannot run in a transaction. Every method is idempotent and safe for
// concurrent use.
type FleetDB struct {
	db     *gorm.DB
	server string // host:port, for logs
}

// NewFleetDB returns a FleetDB for the server of adminURL
// (postgres://user[:password]@host[:port]/database). It checks the URL but connects
// only when first used, so that a server down at start-up delays the spaces' creation
// instead of stopping the process.
func NewFleetDB(adminURL string) (*FleetDB, error) {
	u, err := url.Parse(adminURL)
	// The URL is not quoted in errors: it may hold a password.
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, errors.New("fleet database: want a URL such as postgres://user:password@host:5432/postgres")
	}
	db, err := gorm.Open(postgres.Open(adminURL), &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", u.Host, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", u.Host, err)
	}
	sqlDB.SetMaxOpenConns(fleetDBMaxConns)
	return &FleetDB{db: db, server: u.Host}, nil
}

// Close closes the connections to the server.
func (f *FleetDB) Close() error {
	sqlDB, err := f.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Names returns the names of the database and role of the space slug, which must be
// valid (see Create): "nc_" and the slug with its hyphens turned into underscores, at
// most 43 characters, under PostgreSQL's limit of 63.
func (f *FleetDB) Names(slug string) (database, role string) {
	name := fleetNamePrefix + strings.ReplaceAll(slug, "-", "_")
	return name, name
}

// Create creates the role of the space slug (it can log in; it has no password yet),
// then its database, owned by that role. What exists already is kept, so a retry after
// a failure half-way finishes the job. A malformed slug is refused with an error
// wrapping ErrPermanent.
func (f *FleetDB) Create(ctx context.Context, slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	database, role := f.Names(slug)
	dbExists, roleExists, err := f.Exists(ctx, slug)
	if err != nil {
		return err
	}
	if !roleExists {
		err := f.exec(ctx, "CREATE ROLE "+quoteIdent(role)+" LOGIN")
		if err != nil && !pgCode(err, pgDuplicateObject, pgUniqueViolation) {
			return fmt.Errorf("create role %q on %s: %w", role, f.server, err)
		}
	}
	if !dbExists {
		// template0 never has sessions, which would make CREATE DATABASE fail, and holds
		// nothing added to template1; Nextcloud needs UTF-8.
		err := f.exec(ctx, "CREATE DATABASE "+quoteIdent(database)+" OWNER "+quoteIdent(role)+
			" TEMPLATE template0 ENCODING 'UTF8'")
		if err != nil && !pgCode(err, pgDuplicateDatabase, pgUniqueViolation) {
			return fmt.Errorf("create database %q on %s: %w", database, f.server, err)
		}
	}
	return nil
}

// Drop drops the database of the space slug, closing its sessions, then its role.
// Dropping what does not exist succeeds. A malformed slug is refused with an error
// wrapping ErrPermanent.
func (f *FleetDB) Drop(ctx context.Context, slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	database, role := f.Names(slug)
	err := f.exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(database)+" WITH (FORCE)")
	if err != nil && !pgCode(err, pgInvalidCatalog) {
		return fmt.Errorf("drop database %q on %s: %w", database, f.server, err)
	}
	err = f.exec(ctx, "DROP ROLE IF EXISTS "+quoteIdent(role))
	if err != nil && !pgCode(err, pgUndefinedObject) {
		return fmt.Errorf("drop role %q on %s: %w", role, f.server, err)
	}
	return nil
}

// Exists reports whether the database and the role of the space slug exist. A
// malformed slug is refused with an error wrapping ErrPermanent.
func (f *FleetDB) Exists(ctx context.Context, slug string) (databaseExists, roleExists bool, err error) {
	if err := checkSlug(slug); err != nil {
		return false, false, err
	}
	database, role := f.Names(slug)
	err = f.db.WithContext(ctx).Raw(
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)",
		database, role).Row().Scan(&databaseExists, &roleExists)
	if err != nil {
		return false, false, fmt.Errorf("look up database %q on %s: %w", database, f.server, err)
	}
	return databaseExists, roleExists, nil
}

// exec runs one statement on its own: without arguments it goes through the simple
// protocol, outside any transaction, as CREATE and DROP DATABASE require.
func (f *FleetDB) exec(ctx context.Context, statement string) error {
	return f.db.WithContext(ctx).Exec(statement).Error
}

// checkSlug refuses a slug that could not name a database, a role or a file.
func checkSlug(slug string) error {
	if len(slug) > models.MaxSlugLength || !fleetSlugPattern.MatchString(slug) {
		return permanent("malformed slug %q", slug)
	}
	return nil
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// pgCode reports whether err is a PostgreSQL error with one of codes.
func pgCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && slices.Contains(codes, pgErr.Code)
}
