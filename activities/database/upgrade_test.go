package database_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/database"
	"jardinier/models"
)

func TestUpgradeProjection(t *testing.T) {
	f := setup(t)
	env := f.environment(t)

	t.Run("the fleet upgrade lists the spaces in service or on their way out, with versions", func(t *testing.T) {
		require.NoError(t, f.db.Model(&models.Space{}).Where("slug = ?", "amis-du-jardin").
			Updates(map[string]any{"status": models.StatusActive, "nextcloud_version": "31.0.9"}).Error)
		f.submit(t, "en-attente") // still submitted: not part of the fleet
		v, err := env.ExecuteActivity(f.act.ListSpaces, database.ListSpacesInput{})
		require.NoError(t, err)
		var res database.ListSpacesResult
		require.NoError(t, v.Get(&res))
		assert.Equal(t, []database.SpaceVersion{{Slug: "amis-du-jardin", Status: models.StatusActive, Version: "31.0.9"}}, res.Spaces)
	})

	t.Run("rows are inserted, then updated without losing what a shorter row leaves out", func(t *testing.T) {
		record := func(rows ...database.UpgradeSpaceRow) {
			t.Helper()
			_, err := env.ExecuteActivity(f.act.RecordUpgradeSpaces, database.RecordUpgradeSpacesInput{UpgradeID: "u1", Rows: rows})
			require.NoError(t, err)
		}
		record(database.UpgradeSpaceRow{Slug: "a", Status: "pending", From: "31.0.9", To: "32.0.0"},
			database.UpgradeSpaceRow{Slug: "b", Status: "refused", From: "29.0.1", To: "32.0.0", Error: "passer par 30"})
		record(database.UpgradeSpaceRow{Slug: "a", Status: "running"})
		record(database.UpgradeSpaceRow{Slug: "a", Status: "upgraded", From: "31.0.9", To: "32.0.0", DowntimeMS: 61_000})
		record(database.UpgradeSpaceRow{Slug: "a", Status: "upgraded", From: "31.0.9", To: "32.0.0", DowntimeMS: 61_000})

		var rows []models.UpgradeSpace
		require.NoError(t, f.db.Where("upgrade_id = ?", "u1").Order("slug").Find(&rows).Error)
		require.Len(t, rows, 2)
		assert.Equal(t, "upgraded", rows[0].Status)
		assert.Equal(t, "31.0.9", rows[0].From)
		assert.Equal(t, "32.0.0", rows[0].To)
		assert.EqualValues(t, 61_000, rows[0].DowntimeMS)
		assert.Equal(t, "refused", rows[1].Status)
		assert.Equal(t, "passer par 30", rows[1].Error)
	})
}
