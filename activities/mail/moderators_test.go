package mail_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/mail"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// runActivity runs one attempt of an activity of a.
func (f *fixture) runActivity(t *testing.T, a *mail.Activities, fn any, in any, out any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(f.logs, nil))))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return err
	}
	return val.Get(out)
}

// waitingApplication stores an application and its space, submitted at.
func (f *fixture) waitingApplication(t *testing.T, slug string, at time.Time) models.Application {
	t.Helper()
	app := modeltest.CreateApplication(t, f.db, slug, at)
	require.NoError(t, f.db.Create(&models.Space{Slug: slug, ApplicationID: &app.ID, Status: models.StatusSubmitted,
		OfficeSuite: models.OfficeCollabora, SubmittedAt: at}).Error)
	return app
}

func TestSendModeratorMail(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)
	ctx := context.Background()
	_, m, err := models.AddModerator(ctx, f.db, "Camille", models.RoleModerator, "camille@benevoles.example")
	require.NoError(t, err)
	link, err := models.NewModeratorLink(ctx, f.db, m.ID, models.LinkInvitation, time.Now())
	require.NoError(t, err)

	t.Run("the invitation carries a one-use link to choose a password, and is sent once", func(t *testing.T) {
		in := mail.ModeratorMailInput{Kind: mail.KindModeratorInvitation, LinkID: link.ID}
		var first, again mail.SendResult
		require.NoError(t, f.runActivity(t, a, a.SendModeratorMail, in, &first))
		require.NoError(t, f.runActivity(t, a, a.SendModeratorMail, in, &again))
		assert.True(t, again.AlreadySent)
		got := f.messagesWithID(first.MessageID)
		require.Len(t, got, 1)
		assert.Equal(t, []string{"camille@benevoles.example"}, got[0].To)
		assert.Contains(t, got[0].Subject, "Invitation")
		token := f.signer.ModeratorLinkToken(link.ID)
		assert.Contains(t, got[0].Body, publicURL+"/moderation/mot-de-passe?jeton="+token)
		assert.Contains(t, got[0].Body, "Bonjour Camille")
		assert.NotContains(t, f.logs.String(), token, "the token is never logged")
	})
}

func TestSendDigest(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

	t.Run("nothing is sent when there is nothing to say", func(t *testing.T) {
		var res mail.DigestResult
		require.NoError(t, f.runActivity(t, a, a.SendDigest, mail.DigestInput{Now: now, Since: now.Add(-24 * time.Hour)}, &res))
		assert.False(t, res.Sent)
		assert.Empty(t, f.smtp.Messages())
	})

	t.Run("new applications, those waiting over 10 days and failures, each with its screen, once a day", func(t *testing.T) {
		fresh := f.waitingApplication(t, "troc-de-graines", now.Add(-3*time.Hour))
		old := f.waitingApplication(t, "chorale-du-port", now.AddDate(0, 0, -12))
		require.NoError(t, f.db.Create(&models.Space{Slug: "atelier-velo", Status: models.StatusProvisioningFailed,
			OfficeSuite: models.OfficeCollabora, SubmittedAt: now.AddDate(0, 0, -1), StatusReason: "bucket refusé"}).Error)
		in := mail.DigestInput{Now: now, Since: now.Add(-24 * time.Hour)}
		var res, again mail.DigestResult
		require.NoError(t, f.runActivity(t, a, a.SendDigest, in, &res))
		assert.Equal(t, mail.DigestResult{Sent: true, New: 1, Waiting: 1, Failures: 1}, res)
		require.NoError(t, f.runActivity(t, a, a.SendDigest, in, &again))
		assert.True(t, again.AlreadySent)
		msgs := f.smtp.Messages()
		require.Len(t, msgs, 1)
		body := msgs[0].Body
		assert.Equal(t, []string{moderators}, msgs[0].To)
		assert.Contains(t, body, publicURL+"/moderation/demandes/"+fresh.ID)
		assert.Contains(t, body, publicURL+"/moderation/demandes/"+old.ID)
		assert.Contains(t, body, publicURL+"/moderation/espaces/atelier-velo")
		assert.Contains(t, body, "plus de 10 jours")
		assert.True(t, strings.Index(body, "Nouvelles demandes") < strings.Index(body, "Échecs"))
		assert.NotContains(t, body, fresh.ContactEmail, "the digest names organisations, not their contacts")
	})

	t.Run("the spaces no warning reached anyone of, waiting for a decision, are in the digest", func(t *testing.T) {
		require.NoError(t, f.db.Create(&models.Space{Slug: "chorale-muette", Status: models.StatusActive,
			OfficeSuite: models.OfficeCollabora, SubmittedAt: now.AddDate(-1, 0, 0)}).Error)
		require.NoError(t, f.db.Create(&models.PolicyHold{Slug: "chorale-muette", Step: models.StepDeactivation,
			Since: now.AddDate(0, 0, -2)}).Error)
		tomorrow := now.Add(24 * time.Hour)
		var res mail.DigestResult
		require.NoError(t, f.runActivity(t, a, a.SendDigest, mail.DigestInput{Now: tomorrow, Since: now}, &res))
		assert.Equal(t, 1, res.Held)
		require.True(t, res.Sent)
		msgs := f.smtp.Messages()
		body := msgs[len(msgs)-1].Body
		assert.Contains(t, msgs[len(msgs)-1].Subject, "1 espace(s) que personne n'a pu prévenir")
		assert.Contains(t, body, "- chorale-muette : désactivation suspendue depuis le 30 novembre 2026\n  "+
			publicURL+"/moderation/espaces/chorale-muette")
	})
}
