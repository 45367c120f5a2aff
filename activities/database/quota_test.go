package database_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/database"
	"jardinier/models"
)

// measured is when the test's usage was measured.
var measured = time.Date(2026, 5, 7, 3, 0, 0, 0, time.UTC)

// createSpace stores a space row without an application, as one in service or a
// tombstone is, with quota bytes of quota.
func (f *fixture) createSpace(t *testing.T, slug string, status models.Status, quota int64) models.Space {
	t.Helper()
	s := models.Space{Slug: slug, Status: status, OfficeSuite: models.OfficeCollabora,
		QuotaBytes: quota, SubmittedAt: submitted}
	require.NoError(t, f.db.Create(&s).Error)
	return s
}

// spaceByID returns a space row by its ID: a slug may be held by a tombstone too.
func (f *fixture) spaceByID(t *testing.T, id uint) models.Space {
	t.Helper()
	var s models.Space
	require.NoError(t, f.db.Take(&s, id).Error)
	return s
}

// listQuotaSpaces runs ListQuotaSpaces as one attempt of the Temporal activity.
func (f *fixture) listQuotaSpaces(t *testing.T, after string, limit int) ([]database.QuotaSpace, error) {
	t.Helper()
	val, err := f.environment(t).ExecuteActivity(f.act.ListQuotaSpaces, database.ListQuotaSpacesInput{After: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	var res database.ListQuotaSpacesResult
	require.NoError(t, val.Get(&res))
	return res.Spaces, nil
}

// recordUsage runs RecordSpaceUsage as one attempt of the Temporal activity.
func (f *fixture) recordUsage(t *testing.T, at time.Time, spaces ...database.SpaceUsage) {
	t.Helper()
	_, err := f.environment(t).ExecuteActivity(f.act.RecordSpaceUsage, database.RecordSpaceUsageInput{Spaces: spaces, At: at})
	require.NoError(t, err)
}

// assertUsage checks the usage columns of a space row.
func assertUsage(t *testing.T, s models.Space, used int64, accounts int, at time.Time) {
	t.Helper()
	assert.Equal(t, used, s.StorageUsedBytes, "storage_used_bytes of %s (%s)", s.Slug, s.Status)
	assert.Equal(t, accounts, s.Accounts, "accounts of %s (%s)", s.Slug, s.Status)
	if assert.NotNil(t, s.UsageAt, "usage_at of %s (%s)", s.Slug, s.Status) {
		assert.True(t, at.Equal(*s.UsageAt), "usage_at of %s: want %v, got %v", s.Slug, at, *s.UsageAt)
	}
}

// assertNoUsage checks that nothing was recorded into a space row.
func assertNoUsage(t *testing.T, s models.Space) {
	t.Helper()
	assert.Zero(t, s.StorageUsedBytes, "storage_used_bytes of %s (%s)", s.Slug, s.Status)
	assert.Zero(t, s.Accounts, "accounts of %s (%s)", s.Slug, s.Status)
	assert.Nil(t, s.UsageAt, "usage_at of %s (%s)", s.Slug, s.Status)
}

func TestListQuotaSpaces(t *testing.T) {
	// quotaFleet stores active spaces and others around them; setup's space, still
	// submitted, is among the others.
	quotaFleet := func(t *testing.T) *fixture {
		t.Helper()
		f := setup(t)
		f.createSpace(t, "d-vergers", models.StatusActive, 40<<30)
		f.createSpace(t, "a-ruches", models.StatusActive, 10<<30)
		f.createSpace(t, "c-potager", models.StatusActive, 30<<30)
		f.createSpace(t, "b-compost", models.StatusActive, 20<<30)
		f.createSpace(t, "e-serres", models.StatusActive, 50<<30)
		f.createSpace(t, "a-endormi", models.StatusDeactivated, 1<<30)
		f.createSpace(t, "b-naissant", models.StatusProvisioning, 1<<30)
		f.createSpace(t, "c-disparu", models.StatusDeleted, 1<<30)
		f.createSpace(t, "c-potager", models.StatusDeleted, 1<<30) // an old tombstone of the slug
		return f
	}

	t.Run("lists only the active spaces, by slug, with their quotas", func(t *testing.T) {
		f := quotaFleet(t)
		spaces, err := f.listQuotaSpaces(t, "", 100)
		require.NoError(t, err)
		assert.Equal(t, []database.QuotaSpace{
			{Slug: "a-ruches", QuotaBytes: 10 << 30},
			{Slug: "b-compost", QuotaBytes: 20 << 30},
			{Slug: "c-potager", QuotaBytes: 30 << 30},
			{Slug: "d-vergers", QuotaBytes: 40 << 30},
			{Slug: "e-serres", QuotaBytes: 50 << 30},
		}, spaces, "deactivated, provisioning, submitted and deleted spaces are left out")
	})

	t.Run("pages by Limit after the slug After", func(t *testing.T) {
		f := quotaFleet(t)
		var pages [][]string
		for _, after := range []string{"", "b-compost", "d-vergers", "e-serres"} {
			spaces, err := f.listQuotaSpaces(t, after, 2)
			require.NoError(t, err)
			var page []string
			for _, sp := range spaces {
				page = append(page, sp.Slug)
			}
			pages = append(pages, page)
		}
		assert.Equal(t, [][]string{{"a-ruches", "b-compost"}, {"c-potager", "d-vergers"}, {"e-serres"}, nil}, pages)
	})

	t.Run("After need not be a listed slug", func(t *testing.T) {
		f := quotaFleet(t)
		spaces, err := f.listQuotaSpaces(t, "b", 1)
		require.NoError(t, err)
		assert.Equal(t, []database.QuotaSpace{{Slug: "b-compost", QuotaBytes: 20 << 30}}, spaces)
	})

	t.Run("a limit that is not positive is an error", func(t *testing.T) {
		f := quotaFleet(t)
		for _, limit := range []int{0, -1} {
			_, err := f.listQuotaSpaces(t, "", limit)
			assert.Error(t, err, "limit %d", limit)
		}
	})
}

func TestRecordSpaceUsage(t *testing.T) {
	t.Run("writes the storage used, the accounts and the time into active and deactivated spaces", func(t *testing.T) {
		f := setup(t)
		active := f.createSpace(t, "potager", models.StatusActive, 50<<30)
		asleep := f.createSpace(t, "endormi", models.StatusDeactivated, 50<<30)
		f.recordUsage(t, measured,
			database.SpaceUsage{Slug: "potager", UsedBytes: 12 << 30, Accounts: 17},
			database.SpaceUsage{Slug: "endormi", UsedBytes: 3 << 20, Accounts: 2})

		assertUsage(t, f.spaceByID(t, active.ID), 12<<30, 17, measured)
		assertUsage(t, f.spaceByID(t, asleep.ID), 3<<20, 2, measured)
	})

	t.Run("leaves a deleted tombstone of the same slug and spaces not in service untouched", func(t *testing.T) {
		f := setup(t)
		tombstone := f.createSpace(t, "potager", models.StatusDeleted, 50<<30)
		active := f.createSpace(t, "potager", models.StatusActive, 50<<30)
		provisioning := f.createSpace(t, "naissant", models.StatusProvisioning, 50<<30)
		f.recordUsage(t, measured,
			database.SpaceUsage{Slug: "potager", UsedBytes: 5 << 30, Accounts: 4},
			database.SpaceUsage{Slug: "naissant", UsedBytes: 1 << 20, Accounts: 1},
			database.SpaceUsage{Slug: f.app.Slug, UsedBytes: 1 << 20, Accounts: 1})

		assertUsage(t, f.spaceByID(t, active.ID), 5<<30, 4, measured)
		assertNoUsage(t, f.spaceByID(t, tombstone.ID))
		assertNoUsage(t, f.spaceByID(t, provisioning.ID))
		assertNoUsage(t, f.space(t, f.app.Slug))
	})

	t.Run("ignores a measure older than the one recorded, and applies a newer one", func(t *testing.T) {
		f := setup(t)
		s := f.createSpace(t, "potager", models.StatusActive, 50<<30)
		f.recordUsage(t, measured, database.SpaceUsage{Slug: "potager", UsedBytes: 8 << 30, Accounts: 9})

		f.recordUsage(t, measured.Add(-time.Hour), database.SpaceUsage{Slug: "potager", UsedBytes: 1 << 30, Accounts: 1})
		assertUsage(t, f.spaceByID(t, s.ID), 8<<30, 9, measured)

		f.recordUsage(t, measured.Add(time.Hour), database.SpaceUsage{Slug: "potager", UsedBytes: 9 << 30, Accounts: 10})
		assertUsage(t, f.spaceByID(t, s.ID), 9<<30, 10, measured.Add(time.Hour))
	})

	t.Run("records the last activity read and when, and never moves it back", func(t *testing.T) {
		f := setup(t)
		s := f.createSpace(t, "potager", models.StatusActive, 50<<30)
		login := measured.Add(-20 * time.Minute)
		f.recordUsage(t, measured, database.SpaceUsage{Slug: "potager", UsedBytes: 1 << 30, Accounts: 2, LastActivity: login})
		row := f.spaceByID(t, s.ID)
		if assert.NotNil(t, row.LastActivityAt) && assert.NotNil(t, row.LastActivityMeasuredAt) {
			assert.True(t, login.Equal(*row.LastActivityAt), "last_activity_at: %v", *row.LastActivityAt)
			assert.True(t, measured.Equal(*row.LastActivityMeasuredAt), "last_activity_measured_at: %v", *row.LastActivityMeasuredAt)
		}

		// A later measure of a space whose activity the policy had recorded later (a
		// reactivation), or nobody ever used: the time of the measure moves, the
		// activity does not go back.
		later := measured.Add(10 * time.Minute)
		f.recordUsage(t, later, database.SpaceUsage{Slug: "potager", UsedBytes: 1 << 30, Accounts: 2, LastActivity: login.Add(-time.Hour)})
		f.recordUsage(t, later.Add(time.Minute), database.SpaceUsage{Slug: "potager", UsedBytes: 1 << 30, Accounts: 2})
		row = f.spaceByID(t, s.ID)
		assert.True(t, login.Equal(*row.LastActivityAt), "last_activity_at: %v", *row.LastActivityAt)
		assert.True(t, later.Add(time.Minute).Equal(*row.LastActivityMeasuredAt))
	})

	t.Run("leaves the other spaces alone", func(t *testing.T) {
		f := setup(t)
		f.createSpace(t, "potager", models.StatusActive, 50<<30)
		other := f.createSpace(t, "vergers", models.StatusActive, 50<<30)
		f.recordUsage(t, measured, database.SpaceUsage{Slug: "potager", UsedBytes: 8 << 30, Accounts: 9})
		assertNoUsage(t, f.spaceByID(t, other.ID))
	})
}
