package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// testOffice are the office servers of the test worker's configuration.
var (
	testOffice = nextcloud.OfficeSettings{CollaboraURL: "https://collabora.example.org",
		OnlyOfficeURL: "https://onlyoffice.example.org", OnlyOfficeJWTSecret: "secret-jwt-de-test"}
	testOfficeKey = []byte("0123456789abcdef0123456789abcdef")
)

// officeAnswer is what an UpdateOffice answered.
type officeAnswer struct {
	rejected error
	err      error
	result   OfficeResult
}

// sendOffice sends an UpdateOffice at a time from the start of the test.
func (h *harness) sendOffice(delay time.Duration, in OfficeInput, answer *officeAnswer) {
	h.at(delay, func() {
		h.env.UpdateWorkflow(UpdateOffice, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { answer.rejected = err },
			OnAccept: func() {},
			OnComplete: func(result any, err error) {
				answer.err = err
				if r, ok := result.(OfficeResult); ok {
					answer.result = r
				}
			},
		}, in)
	})
}

// officeTransitions are the audited transitions that set the office suite.
func (h *harness) officeTransitions() []database.RecordTransitionInput {
	var out []database.RecordTransitionInput
	for _, tr := range h.transitions {
		if tr.OfficeSuite != "" {
			out = append(out, tr)
		}
	}
	return out
}

// requireRefusal checks that err is a validator's refusal of type errType.
func requireRefusal(t *testing.T, err error, errType string) {
	t.Helper()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "want a refusal, got %v", err)
	assert.Equal(t, errType, app.Type(), app.Message())
}

func TestOfficeSuite(t *testing.T) {
	fingerprint := func(suite models.OfficeSuite) string {
		return nextcloud.OfficeFingerprint(suite, testOffice, testOfficeKey)
	}
	t.Run("provisioning writes the settings of the chosen suite into its app, and projects their fingerprint", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.run(3 * time.Hour)

		assert.Equal(t, map[string]string{"wopi_url": testOffice.CollaboraURL}, h.sim.AppConfig("les-amis", nextcloud.AppCollabora))
		assert.Nil(t, h.sim.AppConfig("les-amis", nextcloud.AppOnlyOffice), "nothing of the other suite")
		office := h.officeTransitions()
		require.Len(t, office, 1)
		assert.Equal(t, ActionProvisioned, office[0].Action)
		assert.Equal(t, models.OfficeCollabora, office[0].OfficeSuite)
		assert.Equal(t, fingerprint(models.OfficeCollabora), office[0].OfficeFingerprint)
	})

	t.Run("a moderator switches the space to OnlyOffice: one app disabled, the other enabled and configured, the timeline says who and why", func(t *testing.T) {
		h, _ := activeSpace(t)
		var answer officeAnswer
		var st SpaceStatus
		h.sendOffice(2*time.Hour, OfficeInput{Actor: "camille", Reason: "l'association préfère OnlyOffice",
			Suite: models.OfficeOnlyOffice}, &answer)
		h.queryAt(3*time.Hour, &st)
		h.run(4 * time.Hour)

		require.NoError(t, answer.rejected)
		require.NoError(t, answer.err)
		assert.Equal(t, OfficeResult{Status: models.StatusActive, OfficeSuite: models.OfficeOnlyOffice}, answer.result)
		inst, ok := h.sim.Instance("les-amis")
		require.True(t, ok)
		assert.Contains(t, inst.Apps, nextcloud.AppOnlyOffice)
		assert.NotContains(t, inst.Apps, nextcloud.AppCollabora)
		assert.Subset(t, inst.Apps, nextcloud.DefaultApps, "the approved apps stay")
		assert.Equal(t, models.OfficeOnlyOffice, inst.OfficeSuite)
		assert.Equal(t, map[string]string{"DocumentServerUrl": testOffice.OnlyOfficeURL, "jwt_secret": testOffice.OnlyOfficeJWTSecret},
			h.sim.AppConfig("les-amis", nextcloud.AppOnlyOffice))
		office := h.officeTransitions()
		require.Len(t, office, 2)
		sw := office[1]
		assert.Equal(t, "office_onlyoffice", sw.Action)
		assert.Equal(t, "camille", sw.Actor)
		assert.Equal(t, "l'association préfère OnlyOffice", sw.Reason)
		assert.Equal(t, models.StatusActive, sw.Status)
		assert.Equal(t, models.OfficeOnlyOffice, sw.OfficeSuite)
		assert.Equal(t, fingerprint(models.OfficeOnlyOffice), sw.OfficeFingerprint)
		assert.Equal(t, models.OfficeOnlyOffice, st.OfficeSuite, "the status query")
	})

	t.Run("a switch to no suite disables both apps", func(t *testing.T) {
		h, _ := activeSpace(t)
		var answer officeAnswer
		h.sendOffice(2*time.Hour, OfficeInput{Actor: "camille", Reason: "pas de bureautique", Suite: models.OfficeNone}, &answer)
		h.run(4 * time.Hour)

		require.NoError(t, answer.rejected)
		require.NoError(t, answer.err)
		inst, _ := h.sim.Instance("les-amis")
		assert.NotContains(t, inst.Apps, nextcloud.AppOnlyOffice)
		assert.NotContains(t, inst.Apps, nextcloud.AppCollabora)
		office := h.officeTransitions()
		require.Len(t, office, 2)
		assert.Equal(t, models.OfficeNone, office[1].OfficeSuite)
		assert.Empty(t, office[1].OfficeFingerprint)
	})

	t.Run("the switch carries no secret: the settings come from the worker", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.sendOffice(2*time.Hour, OfficeInput{Actor: "camille", Reason: "changement", Suite: models.OfficeOnlyOffice}, &officeAnswer{})
		h.run(4 * time.Hour)
		for _, tr := range h.transitions {
			assert.NotContains(t, tr.Reason+tr.OfficeFingerprint, testOffice.OnlyOfficeJWTSecret)
		}
		assert.NotContains(t, fingerprint(models.OfficeOnlyOffice), testOffice.OnlyOfficeJWTSecret)
	})

	t.Run("refused: the suite in use, an unknown one, no reason, a space out of service; nothing changes", func(t *testing.T) {
		h, _ := activeSpace(t)
		var same, unknown, noReason, deactivated officeAnswer
		h.sendOffice(2*time.Hour, OfficeInput{Actor: "camille", Reason: "r", Suite: models.OfficeCollabora}, &same)
		h.sendOffice(2*time.Hour, OfficeInput{Actor: "camille", Reason: "r", Suite: "libreoffice"}, &unknown)
		h.sendOffice(2*time.Hour, OfficeInput{Actor: "camille", Suite: models.OfficeOnlyOffice}, &noReason)
		h.send(3*time.Hour, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "demande"}, &decisionAnswer{})
		h.sendOffice(4*time.Hour, OfficeInput{Actor: "camille", Reason: "r", Suite: models.OfficeOnlyOffice}, &deactivated)
		h.run(5 * time.Hour)

		requireRefusal(t, same.rejected, ErrTypeNotAllowed)
		requireRefusal(t, unknown.rejected, ErrTypeInvalidInput)
		requireRefusal(t, noReason.rejected, ErrTypeInvalidInput)
		requireRefusal(t, deactivated.rejected, ErrTypeNotAllowed)
		assert.Len(t, h.officeTransitions(), 1, "only the provisioning")
		inst, _ := h.sim.Instance("les-amis")
		assert.Contains(t, inst.Apps, nextcloud.AppCollabora)
	})

	t.Run("the system writes the settings of the suite in use again, and may not switch it", func(t *testing.T) {
		h, _ := activeSpace(t)
		var refresh, other officeAnswer
		h.at(90*time.Minute, func() { h.activities.Office.CollaboraURL = "https://bureautique.example.org" })
		h.sendOffice(2*time.Hour, OfficeInput{Actor: models.ActorSystem, Reason: "réglages changés", Suite: models.OfficeCollabora}, &refresh)
		h.sendOffice(3*time.Hour, OfficeInput{Actor: models.ActorSystem, Suite: models.OfficeOnlyOffice}, &other)
		h.run(4 * time.Hour)

		require.NoError(t, refresh.rejected)
		require.NoError(t, refresh.err)
		requireRefusal(t, other.rejected, ErrTypeInvalidInput)
		assert.Equal(t, "https://bureautique.example.org", h.sim.AppConfig("les-amis", nextcloud.AppCollabora)["wopi_url"])
		office := h.officeTransitions()
		require.Len(t, office, 2)
		assert.Equal(t, ActionOfficeRefreshed, office[1].Action)
		assert.Equal(t, models.ActorSystem, office[1].Actor)
		assert.Equal(t, nextcloud.OfficeFingerprint(models.OfficeCollabora, h.activities.Office, testOfficeKey), office[1].OfficeFingerprint)
		assert.NotEqual(t, office[0].OfficeFingerprint, office[1].OfficeFingerprint)
	})

	t.Run("the contact asks for OnlyOffice, gets a link, and the link switches the space once, to that suite only", func(t *testing.T) {
		h, _ := activeSpace(t)
		var same, forged, confirm, again officeAnswer
		var mailed decisionAnswer
		h.send(2*time.Hour, UpdateContactRequest, ContactRequestInput{Action: UpdateOffice, Suite: models.OfficeOnlyOffice}, &mailed)
		h.sendOffice(150*time.Minute, OfficeInput{Actor: models.ActorContact, TokenSeq: 1, Suite: models.OfficeNone}, &forged)
		h.sendOffice(3*time.Hour, OfficeInput{Actor: models.ActorContact, TokenSeq: 1, Suite: models.OfficeOnlyOffice}, &confirm)
		h.sendOffice(4*time.Hour, OfficeInput{Actor: models.ActorContact, TokenSeq: 1, Suite: models.OfficeCollabora}, &again)
		h.at(5*time.Hour, func() {
			h.env.UpdateWorkflow(UpdateContactRequest, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { same.rejected = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
			}, ContactRequestInput{Action: UpdateOffice, Suite: models.OfficeOnlyOffice})
		})
		h.run(6 * time.Hour)

		require.NoError(t, mailed.rejected)
		assert.True(t, mailed.mailed)
		confirmMails := h.mailsOf(mail.KindConfirmOffice)
		require.Len(t, confirmMails, 1)
		assert.Equal(t, models.OfficeOnlyOffice, confirmMails[0].Suite)
		assert.Equal(t, 1, confirmMails[0].TokenSeq)
		requireRefusal(t, forged.rejected, ErrTypeStaleLink)
		require.NoError(t, confirm.rejected)
		require.NoError(t, confirm.err)
		assert.Equal(t, models.OfficeOnlyOffice, confirm.result.OfficeSuite)
		requireRefusal(t, again.rejected, ErrTypeStaleLink)
		requireRefusal(t, same.rejected, ErrTypeNotAllowed)
		office := h.officeTransitions()
		require.Len(t, office, 2)
		assert.Equal(t, models.ActorContact, office[1].Actor)
		_, ok := h.transitionAt(ActionRequestPrefix + UpdateOffice)
		assert.True(t, ok, "the request is in the timeline")
	})

	t.Run("a switch that fails is undone: the space keeps its suite, the update says why, the timeline nothing", func(t *testing.T) {
		h, _ := activeSpace(t)
		var answer officeAnswer
		h.at(90*time.Minute, func() {
			h.fail["ConfigureSpaceOffice"] = func(int) error {
				return temporal.NewNonRetryableApplicationError("occ config:import refused", nextcloud.ErrTypePermanent, nil)
			}
		})
		h.sendOffice(2*time.Hour, OfficeInput{Actor: "camille", Reason: "r", Suite: models.OfficeOnlyOffice}, &answer)
		h.at(150*time.Minute, func() { delete(h.fail, "ConfigureSpaceOffice") })
		var st SpaceStatus
		h.queryAt(3*time.Hour, &st)
		h.run(4 * time.Hour)

		require.NoError(t, answer.rejected)
		require.Error(t, answer.err)
		assert.Contains(t, answer.err.Error(), "n'a pas pu être changée")
		assert.Len(t, h.officeTransitions(), 1, "only the provisioning")
		inst, _ := h.sim.Instance("les-amis")
		assert.Contains(t, inst.Apps, nextcloud.AppCollabora, "Collabora is back")
		assert.NotContains(t, inst.Apps, nextcloud.AppOnlyOffice)
		assert.Equal(t, models.StatusActive, st.Status, "the workflow goes on")
		assert.Equal(t, models.OfficeCollabora, st.OfficeSuite)
	})
}
