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

func TestMissedUpgrade(t *testing.T) {
	f := setup(t)
	env := f.environment(t)
	record := func(upgrade string, rows ...database.UpgradeSpaceRow) {
		t.Helper()
		_, err := env.ExecuteActivity(f.act.RecordUpgradeSpaces, database.RecordUpgradeSpacesInput{UpgradeID: upgrade, Rows: rows})
		require.NoError(t, err)
	}
	missed := func(slug string) string {
		t.Helper()
		v, err := env.ExecuteActivity(f.act.MissedUpgrade, database.MissedUpgradeInput{Slug: slug})
		require.NoError(t, err)
		var res database.MissedUpgradeResult
		require.NoError(t, v.Get(&res))
		return res.Target
	}

	t.Run("a space no fleet upgrade left out missed nothing", func(t *testing.T) {
		record("u1", database.UpgradeSpaceRow{Slug: "en-service", Status: models.UpgradeSpaceUpgraded, From: "31.0.9", To: "32.0.2"})
		assert.Empty(t, missed("en-service"))
		assert.Empty(t, missed("inconnu"))
	})

	t.Run("a space left out, when planned or when its turn came, missed the latest such upgrade", func(t *testing.T) {
		record("u1", database.UpgradeSpaceRow{Slug: "endormi", Status: models.UpgradeSpaceSkipped, From: "31.0.9", To: "32.0.2",
			Error: "état deactivated"})
		assert.Equal(t, "32.0.2", missed("endormi"))
		record("u2", database.UpgradeSpaceRow{Slug: "endormi", Status: models.UpgradeSpacePending, From: "31.0.9", To: "33.0.1"})
		record("u2", database.UpgradeSpaceRow{Slug: "endormi", Status: models.UpgradeSpaceSkipped, Error: "l'espace est à l'état deactivated"})
		assert.Equal(t, "33.0.1", missed("endormi"), "the later upgrade, whose row kept its target")
	})
}
