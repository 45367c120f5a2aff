package models_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestAnnouncementAdminRecipients(t *testing.T) {
	db := modeltest.NewDB(t)
	ctx := t.Context()
	now := time.Now().UTC()
	for slug, status := range map[string]models.Status{"amis": models.StatusActive, "bal": models.StatusDeactivated,
		"cine": models.StatusActive, "dodo": models.StatusSubmitted} {
		app := modeltest.CreateApplication(t, db, slug, now)
		require.NoError(t, db.Create(&models.Space{Slug: slug, ApplicationID: &app.ID, Status: status,
			NextcloudVersion: "31.0.9", OfficeSuite: models.OfficeCollabora, SubmittedAt: now}).Error)
	}
	a, err := models.NewAnnouncement("Mise à jour", "Nextcloud 32 arrive.", models.AudienceAdmins, models.AnnouncementFilter{}, "alix")
	require.NoError(t, err, "the admins are an audience")
	require.NoError(t, models.CreateAnnouncement(ctx, db, &a))

	t.Run("the preview counts the spaces whose admins will be read", func(t *testing.T) {
		n, err := models.CountAudience(ctx, db, models.AudienceAdmins, models.AnnouncementFilter{})
		require.NoError(t, err)
		assert.EqualValues(t, 3, n, "amis, bal and cine; not the application waiting")
	})
	t.Run("the spaces are paged in slug order", func(t *testing.T) {
		slugs, err := models.AnnouncedSpaces(ctx, db, models.AnnouncementFilter{}, "", 2)
		require.NoError(t, err)
		assert.Equal(t, []string{"amis", "bal"}, slugs)
		slugs, err = models.AnnouncedSpaces(ctx, db, models.AnnouncementFilter{}, "bal", 2)
		require.NoError(t, err)
		assert.Equal(t, []string{"cine"}, slugs)
	})
	t.Run("one row per address across spaces, numbered from 1, and a page added again adds nothing", func(t *testing.T) {
		first := []models.AdminAddress{{Address: "Claire@Asso.example", Slug: "amis"}, {Address: "bob@amis.example", Slug: "amis"}}
		second := []models.AdminAddress{{Address: " claire@asso.example", Slug: "bal"}, {Address: "zoe@bal.example", Slug: "bal"},
			{Address: "zoe@bal.example", Slug: "bal"}, {Address: "", Slug: "bal"}}
		for _, page := range [][]models.AdminAddress{first, second, first, second} {
			_, err := models.AddAdminRecipients(ctx, db, a.ID, page)
			require.NoError(t, err)
		}
		var rows []models.AnnouncementRecipient
		require.NoError(t, db.Where("announcement_id = ?", a.ID).Order("seq").Find(&rows).Error)
		got := map[string]string{}
		for i, r := range rows {
			assert.Equal(t, i+1, r.Seq)
			got[r.Address] = r.Slug
		}
		assert.Equal(t, map[string]string{"bob@amis.example": "amis", "claire@asso.example": "amis", "zoe@bal.example": "bal"}, got)

		total, err := models.PrepareRecipients(ctx, db, a.ID, now)
		require.NoError(t, err)
		assert.Equal(t, 3, total, "fixing them keeps the rows read")
		_, err = models.AddAdminRecipients(ctx, db, a.ID, []models.AdminAddress{{Address: "late@x.example", Slug: "cine"}})
		assert.ErrorIs(t, err, models.ErrAnnouncementFixed)
	})
	t.Run("a filter narrows the spaces whose admins are read, and its bad values name their field", func(t *testing.T) {
		f := models.AnnouncementFilter{Statuses: []models.Status{models.StatusDeactivated}}
		require.NoError(t, models.ValidateAudience(models.AudienceAdmins, f))
		n, err := models.CountAudience(ctx, db, models.AudienceAdmins, f)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		slugs, err := models.AnnouncedSpaces(ctx, db, f, "", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{"bal"}, slugs)
		err = models.ValidateAudience(models.AudienceAdmins, models.AnnouncementFilter{Statuses: []models.Status{models.StatusDeleted}})
		var e *models.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "status", e.Field)
		err = models.ValidateAudience(models.AudienceContacts, f)
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "filter", e.Field, "the contacts of every space take no filter")
	})
}
