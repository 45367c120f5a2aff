package models_test

import (
	"context"
	"strings"
	"testing"

	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker/bench"
)

// TestListQueriesUseIndexes fills the tables as a fleet of years stands and checks that
// the moderators' list queries read the big table through its indexes, not by a
// sequential scan.
func TestListQueriesUseIndexes(t *testing.T) {
	db := modeltest.NewDB(t)
	ctx := context.Background()
	if _, _, err := bench.FillFleet(ctx, db, 20000, 2000); err != nil {
		t.Fatal(err)
	}
	pattern := "%Brest n°1234%" // a name a moderator types in part
	for _, tc := range []struct {
		name, index, sql string
		args             []any
	}{
		{"newest first", "idx_applications_created_at_id",
			`SELECT applications.id FROM applications JOIN spaces ON spaces.application_id = applications.id
			 ORDER BY applications.created_at DESC, applications.id LIMIT 20`, nil},
		{"search q=", "idx_applications_org_name_trgm",
			`SELECT count(*) FROM applications JOIN spaces ON spaces.application_id = applications.id
			 WHERE applications.organization_name ILIKE ? OR applications.slug ILIKE ? OR applications.contact_email ILIKE ?`,
			[]any{pattern, pattern, pattern}},
		{"status filter", "idx_applications_created_at_id",
			`SELECT applications.id FROM applications JOIN spaces ON spaces.application_id = applications.id
			 WHERE spaces.status = ? ORDER BY applications.created_at DESC, applications.id LIMIT 20`,
			[]any{models.StatusProvisioning}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			if err := db.Raw("EXPLAIN "+tc.sql, tc.args...).Scan(&lines).Error; err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, tc.index) {
				var idx []string
				db.Raw("SELECT indexdef FROM pg_indexes WHERE tablename = 'applications'").Scan(&idx)
				t.Log(strings.Join(idx, "\n"))
				t.Errorf("the plan does not use %s:\n%s", tc.index, plan)
			}
			if strings.Contains(plan, "Seq Scan on applications") {
				t.Errorf("the plan scans all applications:\n%s", plan)
			}
		})
	}
}
