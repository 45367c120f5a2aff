package models

import (
	"fmt"

	"gorm.io/gorm"
)

// listIndexes are the indexes behind the moderators' lists at fleet scale (100,000
// applications): the newest-first orders, which the keyset pages read from their
// cursor; the status filter, whose capped count reads (status, application_id) alone;
// a space by its slug, in service or tombstone; the policy preview's next due date;
// and the search `q=` that matches a text anywhere in a name, slug or address
// (ILIKE '%…%', which only a trigram index serves).
var listIndexes = []string{
	`CREATE EXTENSION IF NOT EXISTS pg_trgm`,
	`CREATE INDEX IF NOT EXISTS idx_applications_created_at_id ON applications (created_at DESC, id)`,
	`CREATE INDEX IF NOT EXISTS idx_applications_org_name_trgm ON applications USING gin (organization_name gin_trgm_ops)`,
	`CREATE INDEX IF NOT EXISTS idx_applications_slug_trgm ON applications USING gin (slug gin_trgm_ops)`,
	`CREATE INDEX IF NOT EXISTS idx_applications_contact_email_trgm ON applications USING gin (contact_email gin_trgm_ops)`,
	`CREATE INDEX IF NOT EXISTS idx_spaces_submitted_at_id ON spaces (submitted_at DESC, id DESC)`,
	`CREATE INDEX IF NOT EXISTS idx_spaces_status_application_id ON spaces (status, application_id)`,
	`CREATE INDEX IF NOT EXISTS idx_spaces_slug ON spaces (slug)`,
	`CREATE INDEX IF NOT EXISTS idx_spaces_plan_due ON spaces ((LEAST(next_step_at, deletion_due_at)))`,
	`CREATE INDEX IF NOT EXISTS idx_spaces_slug_trgm ON spaces USING gin (slug gin_trgm_ops)`,
}

// migrateListIndexes makes the lists' indexes.
func migrateListIndexes(tx *gorm.DB) error {
	for _, stmt := range listIndexes {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("migrate: list indexes: %w", err)
		}
	}
	return nil
}
