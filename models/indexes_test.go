package models_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker/bench"
)

// TestListQueriesUseIndexes fills the tables as a fleet of years stands and checks that
// the moderators' list queries read the big tables through their indexes, not by a
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
		{"keyset page of applications", "idx_applications_created_at_id",
			`SELECT applications.id FROM applications JOIN spaces ON spaces.application_id = applications.id
			 WHERE applications.created_at <= now() - interval '1 year' AND (applications.created_at < now() - interval '1 year' OR applications.id > ?)
			 ORDER BY applications.created_at DESC, applications.id LIMIT 51`, []any{"00000000-0000-0000-0000-000000000000"}},
		{"capped count by status", "idx_spaces_status_application_id",
			`SELECT count(*) FROM (SELECT 1 FROM applications JOIN spaces ON spaces.application_id = applications.id
			 WHERE spaces.status = ? LIMIT 1001) AS capped`, []any{models.StatusSubmitted}},
		{"spaces newest first", "idx_spaces_submitted_at_id",
			`SELECT * FROM spaces ORDER BY submitted_at DESC, id DESC LIMIT 51`, nil},
		{"keyset page of spaces", "idx_spaces_submitted_at_id",
			`SELECT * FROM spaces WHERE (submitted_at, id) < (now() - interval '1 year', 1000)
			 ORDER BY submitted_at DESC, id DESC LIMIT 51`, nil},
		{"one space", "idx_spaces_slug",
			`SELECT * FROM spaces WHERE slug = ? ORDER BY CASE WHEN status IN ('rejected', 'deleted') THEN 1 ELSE 0 END, submitted_at DESC LIMIT 1`,
			[]any{"asso-001234"}},
		{"policy preview", "idx_spaces_plan_due",
			`SELECT slug FROM spaces WHERE status IN ? AND NOT exempt AND LEAST(next_step_at, deletion_due_at) <= now() + interval '365 days'`,
			[]any{[]models.Status{models.StatusActive, models.StatusDeactivated}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			if err := db.Raw("EXPLAIN "+tc.sql, tc.args...).Scan(&lines).Error; err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if !regexp.MustCompile(regexp.QuoteMeta(tc.index) + `\b`).MatchString(plan) {
				var idx []string
				db.Raw("SELECT indexdef FROM pg_indexes WHERE tablename = 'applications'").Scan(&idx)
				t.Log(strings.Join(idx, "\n"))
				t.Errorf("the plan does not use %s:\n%s", tc.index, plan)
			}
			if strings.Contains(plan, "Seq Scan on applications") || strings.Contains(plan, "Seq Scan on spaces") {
				t.Errorf("the plan scans all applications:\n%s", plan)
			}
		})
	}
}
