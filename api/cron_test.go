package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestSpacesCron(t *testing.T) {
	f := newFixture(t)
	f.temporal.On("QueryWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, errors.New("no worker")).Maybe()
	now := time.Now().UTC()
	long := now.Add(-time.Hour)
	space := func(slug string, status models.Status, provisioned time.Time) models.Space {
		sp := models.Space{Slug: slug, Status: status, OfficeSuite: models.OfficeNone, SubmittedAt: provisioned, ProvisionedAt: &provisioned}
		require.NoError(t, f.db.Create(&sp).Error)
		return sp
	}
	ok, failed, stale := space("tout-va-bien", models.StatusActive, long), space("en-echec", models.StatusActive, long),
		space("en-retard", models.StatusActive, long)
	space("sans-cron", models.StatusActive, long)
	space("tout-neuf", models.StatusActive, now)
	space("eteint", models.StatusDeactivated, long)
	recent, old, code := now.Add(-time.Minute), now.Add(-time.Hour), 0
	require.NoError(t, f.db.Create(&[]models.CronRun{
		{SpaceID: ok.ID, Slug: ok.Slug, DueAt: now.Add(4 * time.Minute), LastStartedAt: &recent, LastDurationMS: 2300,
			LastExitCode: &code, LastOutcome: models.CronOK, LastOKAt: &recent},
		{SpaceID: failed.ID, Slug: failed.Slug, DueAt: now, LastStartedAt: &recent, LastOutcome: models.CronFailed,
			LastError: "cron.php: exit code 255", LastOKAt: &recent},
		{SpaceID: stale.ID, Slug: stale.Slug, DueAt: now, LastStartedAt: &old, LastOutcome: models.CronOK, LastOKAt: &old},
	}).Error)

	t.Run("a space shows its last run", func(t *testing.T) {
		w := f.do("GET", "/api/v1/spaces/tout-va-bien", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var got struct{ Cron cronView }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.Equal(t, models.CronOK, got.Cron.Outcome)
		assert.Equal(t, int64(2300), got.Cron.DurationMS)
		require.NotNil(t, got.Cron.ExitCode)
		assert.Zero(t, *got.Cron.ExitCode)
		assert.False(t, got.Cron.Late)
	})
	t.Run("a failed run shows its error and is late", func(t *testing.T) {
		var got struct{ Cron cronView }
		require.NoError(t, json.Unmarshal(f.do("GET", "/api/v1/spaces/en-echec", f.mod, nil).Body.Bytes(), &got))
		assert.Equal(t, "cron.php: exit code 255", got.Cron.Error)
		assert.True(t, got.Cron.Late)
	})
	t.Run("moderators list the spaces whose cron failed or has not run for 3 intervals", func(t *testing.T) {
		w := f.do("GET", "/api/v1/spaces?cron=late", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var list listResponse[spaceView]
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
		var slugs []string
		for _, it := range list.Items {
			slugs = append(slugs, it.Slug)
		}
		assert.ElementsMatch(t, []string{"en-echec", "en-retard", "sans-cron"}, slugs)
	})
	t.Run("another value of the filter is refused, naming it", func(t *testing.T) {
		w := f.do("GET", "/api/v1/spaces?cron=oui", f.mod, nil)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "cron", errorOf(t, w).Field)
	})
}
