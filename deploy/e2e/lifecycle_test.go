package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/mail/mailtest"
	"jardinier/activities/storage"
	"jardinier/models"
)

// compressedPolicy turns the 60/75/90/105/120 days of the policy into seconds, with
// room between deactivation and deletion for the test to click the reactivation link.
const compressedPolicy = "warn1=3s,warn2=5s,deactivate=7s,notice=14s,delete=20s"

// waitMail waits for the first mail whose subject contains part, after the first skip.
func (s *system) waitMail(t *testing.T, part string, after int) (mailtest.Received, int) {
	t.Helper()
	var found mailtest.Received
	var index int
	require.Eventually(t, func() bool {
		for i, m := range s.smtp.Messages() {
			if i >= after && strings.Contains(m.Subject, part) {
				found, index = m, i
				return true
			}
		}
		return false
	}, 60*time.Second, 100*time.Millisecond, "no mail with %q after #%d; got: %v", part, after, subjects(s.smtp.Messages()))
	return found, index
}

func subjects(ms []mailtest.Received) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}

var linkPattern = regexp.MustCompile(`https?://\S+/reactivate\?token=[A-Za-z0-9_.-]+`)

func TestInactivityLifecycleEndToEnd(t *testing.T) {
	s := startSystem(t, func(c *models.Config) {
		p, err := models.ParseInactivityPolicy(compressedPolicy)
		require.NoError(t, err)
		c.Policy = p
	})
	ctx := context.Background()
	s3, err := storage.NewClient(s.cfg.S3Endpoint, s.cfg.S3AccessKey, s.cfg.S3SecretKey, false, s.cfg.S3Region)
	require.NoError(t, err)

	const slug = "atelier-velo"
	id := s.submit(slug, "contact@atelier-velo.example")
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
	s.waitStatus(slug, models.StatusActive)
	ok, err := s3.BucketExists(ctx, "space-"+slug)
	require.NoError(t, err)
	require.True(t, ok)
	dbExists, roleExists, err := s.fleet.Exists(ctx, slug)
	require.NoError(t, err)
	require.True(t, dbExists && roleExists, "the space has its own database and role")
	t.Cleanup(func() { s.fleet.Drop(context.Background(), slug) })

	t.Run("an idle space is warned twice, then deactivated with a reactivation link", func(t *testing.T) {
		_, i := s.waitMail(t, "", 0)
		_, i = s.waitMail(t, "premier avertissement", i)
		_, i = s.waitMail(t, "Dernier avertissement", i+1)
		deactivated, _ := s.waitMail(t, "a été désactivé", i+1)
		assert.Equal(t, []string{"contact@atelier-velo.example"}, deactivated.To)
		s.waitStatus(slug, models.StatusDeactivated)
		inst, ok := s.sim.Instance(slug)
		require.True(t, ok)
		assert.True(t, inst.Deactivated, "the instance is out of service")

		resp, err := http.Get(s.api.URL + "/spaces/" + slug + "/deactivated")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the deactivated page answers")

		link := linkPattern.FindString(deactivated.Body)
		require.NotEmpty(t, link, "a reactivation link in:\n%s", deactivated.Body)
		u, err := url.Parse(link)
		require.NoError(t, err)
		token := u.Query().Get("token")

		post := func() int {
			resp, err := http.PostForm(s.api.URL+"/reactivate?token="+url.QueryEscape(token), nil)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		require.Equal(t, http.StatusOK, post(), "the contact reactivates the space")
		s.waitStatus(slug, models.StatusActive)
		inst, _ = s.sim.Instance(slug)
		assert.False(t, inst.Deactivated, "back in service")
		s.waitMail(t, "de nouveau en service", 0)
		assert.Equal(t, http.StatusConflict, post(), "the link works once")
	})

	t.Run("left idle again, the space is deleted with its bucket, instance and personal data", func(t *testing.T) {
		_, i := s.waitMail(t, "de nouveau en service", 0)
		s.waitMail(t, "sera supprimé", i+1)
		s.waitMail(t, "a été supprimé", i+1)
		s.waitStatus(slug, models.StatusDeleted)

		ok, err := s3.BucketExists(ctx, "space-"+slug)
		require.NoError(t, err)
		assert.False(t, ok, "the bucket is gone")
		_, exists := s.sim.Instance(slug)
		assert.False(t, exists, "the instance is gone")
		dbExists, roleExists, err := s.fleet.Exists(ctx, slug)
		require.NoError(t, err)
		assert.False(t, dbExists, "the space's database is gone")
		assert.False(t, roleExists, "and its role")
		// The tombstone is written first, then the personal data is purged.
		var tomb models.Space
		require.Eventually(t, func() bool {
			var apps int64
			require.NoError(t, s.db.Model(&models.Application{}).Where("id = ?", id).Count(&apps).Error)
			tomb = models.Space{}
			require.NoError(t, s.db.Where("slug = ?", slug).First(&tomb).Error)
			return apps == 0 && tomb.ApplicationID == nil
		}, 30*time.Second, 100*time.Millisecond, "the application and the contact's address are purged")
		assert.Equal(t, models.StatusDeleted, tomb.Status)
		assert.NotNil(t, tomb.DeletedAt)

		// Every mail was delivered exactly once.
		time.Sleep(time.Second)
		seen := map[string]int{}
		for _, m := range s.smtp.Messages() {
			seen[m.MessageID]++
			if seen[m.MessageID] > 1 {
				t.Errorf("mail %q delivered twice", m.Subject)
			}
		}
		counts := map[string]int{}
		for _, subj := range subjects(s.smtp.Messages()) {
			for _, part := range []string{"premier avertissement", "Dernier avertissement", "a été désactivé", "de nouveau en service", "sera supprimé", "a été supprimé"} {
				if strings.Contains(subj, part) {
					counts[part]++
				}
			}
		}
		assert.Equal(t, map[string]int{"premier avertissement": 2, "Dernier avertissement": 2, "a été désactivé": 2,
			"de nouveau en service": 1, "sera supprimé": 1, "a été supprimé": 1}, counts,
			fmt.Sprint(subjects(s.smtp.Messages())))
	})
}
