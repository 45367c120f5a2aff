package mail_test

import (
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/mail"
	"jardinier/models"
)

func TestFollowLink(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)
	linkPattern := regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/suivi\?token=(\S+)`)

	for _, kind := range []mail.Kind{mail.KindReceipt, mail.KindOnHold} {
		t.Run(string(kind)+" carries a signed link to follow and withdraw this application, the same on a retry", func(t *testing.T) {
			in, got := f.deliver(t, a, "suivi-"+string(kind), kind, mail.SendInput{}, "contact")
			m := linkPattern.FindStringSubmatch(got.Body)
			require.NotNil(t, m, got.Body)
			raw, err := url.QueryUnescape(m[1])
			require.NoError(t, err)
			tok, err := f.signer.Verify(raw, models.PurposeFollow, submitted)
			require.NoError(t, err)
			assert.Equal(t, in.Slug, tok.Slug)
			assert.Equal(t, in.ApplicationID, tok.App)
			assert.Equal(t, submitted.Add(models.FollowLinkValidity).UTC(), tok.Expires)
			assert.Contains(t, got.Body, "retirer")
		})
	}

	t.Run("the withdrawal is confirmed in French, saying the data are deleted and the name is free", func(t *testing.T) {
		_, got := f.deliver(t, a, "suivi-retrait", mail.KindWithdrawn, mail.SendInput{}, "contact")
		assert.Equal(t, "Votre demande d'espace « suivi-retrait » est retirée", got.Subject)
		for _, p := range []string{"déposée le 1er décembre 2026", "sont supprimées", "de nouveau libre", publicURL + "/demande"} {
			assert.Contains(t, got.Body, p)
		}
		assert.NotContains(t, got.Body, "/suivi")
	})
}
