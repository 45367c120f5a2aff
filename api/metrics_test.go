package api

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"jardinier/models"
)

// fleetGauges scrapes the fleet's collector of f's server once, through a pedantic
// registry (which checks what it describes against what it collects), and returns
// the value of every series without labels, by name.
func fleetGauges(t *testing.T, f *fixture) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(newFleetCollector(f.server)))
	families, err := reg.Gather()
	require.NoError(t, err)
	values := map[string]float64{}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			if len(m.GetLabel()) == 0 && m.GetGauge() != nil {
				values[fam.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	return values
}

func TestMetricsBackups(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	setup := func(t *testing.T) *fixture {
		t.Helper()
		f := newFixture(t)
		f.temporal.On("ListWorkflow", mock.Anything, mock.Anything).
			Return(&workflowservice.ListWorkflowExecutionsResponse{}, nil).Maybe()
		f.server.now = func() time.Time { return now }
		return f
	}
	space := func(t *testing.T, f *fixture, slug string, status models.Status, provisioned time.Time) models.Space {
		t.Helper()
		sp := models.Space{Slug: slug, Status: status, OfficeSuite: models.OfficeNone, SubmittedAt: provisioned, ProvisionedAt: &provisioned}
		require.NoError(t, f.db.Create(&sp).Error)
		return sp
	}
	backup := func(t *testing.T, f *fixture, sp models.Space, status string, taken time.Time) {
		t.Helper()
		require.NoError(t, f.db.Create(&models.Backup{SpaceID: sp.ID, Slug: sp.Slug, Kind: models.BackupNightly,
			Key: models.BackupKey(sp.Slug, models.BackupNightly, taken), TakenAt: taken, Status: status}).Error)
	}

	t.Run("a space whose newest good backup is 3 days old gives the oldest age and is counted", func(t *testing.T) {
		f := setup(t)
		month := now.Add(-30 * 24 * time.Hour)
		old := space(t, f, "vieille-sauvegarde", models.StatusActive, month)
		backup(t, f, old, models.BackupOK, now.Add(-4*24*time.Hour))
		backup(t, f, old, models.BackupOK, now.Add(-72*time.Hour))
		backup(t, f, old, models.BackupFailed, now.Add(-2*time.Hour)) // a failure is no backup
		fresh := space(t, f, "a-jour", models.StatusActive, month)
		backup(t, f, fresh, models.BackupOK, now.Add(-20*time.Hour))

		g := fleetGauges(t, f)
		assert.Equal(t, (72 * time.Hour).Seconds(), g["jardinier_backup_oldest_seconds"])
		assert.Equal(t, 1.0, g["jardinier_spaces_without_recent_backup"])
		stale, err := models.SpacesWithoutRecentBackup(f.db, now)
		require.NoError(t, err)
		assert.Len(t, stale, 1, "the gauge counts what the moderators' list shows")
	})

	t.Run("a space without any backup counts from its provisioning, once past 48 hours", func(t *testing.T) {
		f := setup(t)
		space(t, f, "jamais-sauvegarde", models.StatusActive, now.Add(-50*time.Hour))
		space(t, f, "tout-neuf", models.StatusActive, now.Add(-time.Hour))
		g := fleetGauges(t, f)
		assert.Equal(t, (50 * time.Hour).Seconds(), g["jardinier_backup_oldest_seconds"])
		assert.Equal(t, 1.0, g["jardinier_spaces_without_recent_backup"])
	})

	t.Run("spaces out of service are not watched, and the gauges are exposed at zero", func(t *testing.T) {
		f := setup(t)
		long := now.Add(-30 * 24 * time.Hour)
		space(t, f, "eteint", models.StatusDeactivated, long)
		space(t, f, "en-attente", models.StatusSubmitted, long)
		g := fleetGauges(t, f)
		require.Contains(t, g, "jardinier_backup_oldest_seconds")
		require.Contains(t, g, "jardinier_spaces_without_recent_backup")
		assert.Zero(t, g["jardinier_backup_oldest_seconds"])
		assert.Zero(t, g["jardinier_spaces_without_recent_backup"])
	})
}
