package mail_test

import (
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/mail"
	"jardinier/models"
)

func TestContactChangeMails(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)
	expires := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	const newAddress = "nouveau-bureau@asso.example"
	linkPattern := regexp.MustCompile(regexp.QuoteMeta(publicURL+mail.ContactChangePath) + `\?token=(\S+)`)
	linkOf := func(t *testing.T, body string, purpose models.TokenPurpose) models.LinkToken {
		t.Helper()
		m := linkPattern.FindStringSubmatch(body)
		require.NotNil(t, m, body)
		raw, err := url.QueryUnescape(m[1])
		require.NoError(t, err)
		tok, err := f.signer.Verify(raw, purpose, expires.Add(-time.Hour))
		require.NoError(t, err)
		return tok
	}

	t.Run("the current address gets the link to confirm, with the new address it would be replaced by", func(t *testing.T) {
		in, got := f.deliver(t, a, "adresse-actuelle", mail.KindContactChangeCurrent,
			mail.SendInput{Seq: 3, TokenSeq: 3, TokenExpires: expires, NewContact: f.sealer.Seal(newAddress)}, "contact")
		assert.Equal(t, "Confirmez le changement d'adresse de contact de votre espace « adresse-actuelle »", got.Subject)
		for _, p := range []string{newAddress, "Un second lien sera ensuite envoyé à la nouvelle adresse", "8 décembre 2026 à 11 h 00", "ignorez simplement ce courriel"} {
			assert.Contains(t, got.Body, p)
		}
		tok := linkOf(t, got.Body, models.PurposeContactCurrent)
		assert.Equal(t, models.LinkToken{Slug: in.Slug, Purpose: models.PurposeContactCurrent, Seq: 3, Expires: expires}, tok)
	})

	t.Run("the new address gets its own link, to the address sealed in the input, not the contact's", func(t *testing.T) {
		app := f.newApplication(t, "adresse-nouvelle")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindContactChangeNew, Seq: 3,
			To: f.sealer.Seal(newAddress), TokenSeq: 3, TokenExpires: expires}
		res, err := f.send(t, a, in)
		require.NoError(t, err)
		got := f.messagesWithID(res.MessageID)
		require.Len(t, got, 1)
		assert.Equal(t, []string{newAddress}, got[0].To)
		assert.Contains(t, got[0].Body, "l'adresse de contact actuelle de l'espace a confirmé ce changement")
		assert.Equal(t, models.PurposeContactNew, linkOf(t, got[0].Body, models.PurposeContactNew).Purpose)
		_, err = f.signer.Verify(linkPattern.FindStringSubmatch(got[0].Body)[1], models.PurposeContactCurrent, expires.Add(-time.Hour))
		assert.Error(t, err, "the new address's link cannot stand for the current one's")
	})

	t.Run("once done, the new contact and the former address are both told", func(t *testing.T) {
		_, got := f.deliver(t, a, "adresse-changee", mail.KindContactChanged, mail.SendInput{Seq: 3}, "contact")
		assert.Equal(t, "Vous êtes le contact de l'espace « adresse-changee »", got.Subject)
		assert.Contains(t, got.Body, "cette adresse est désormais l'adresse de contact")
		assert.NotContains(t, got.Body, "token=")

		app := f.newApplication(t, "adresse-ancienne")
		res, err := f.send(t, a, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindContactChangedPrevious, Seq: 3,
			To: f.sealer.Seal("ancien@asso.example"), NewContact: f.sealer.Seal(newAddress)})
		require.NoError(t, err)
		prev := f.messagesWithID(res.MessageID)
		require.Len(t, prev, 1)
		assert.Equal(t, []string{"ancien@asso.example"}, prev[0].To)
		assert.Equal(t, "L'adresse de contact de votre espace « adresse-ancienne » a changé", prev[0].Subject)
		assert.Contains(t, prev[0].Body, newAddress)
		assert.Contains(t, prev[0].Body, "contactez les modérateurs")
	})

	t.Run("a missing address or one sealed with another key is refused for good, and nothing is sent", func(t *testing.T) {
		app := f.newApplication(t, "adresse-refusee")
		other, err := models.NewSealer([]byte("fedcba9876543210fedcba9876543210"))
		require.NoError(t, err)
		before := len(f.smtp.Messages())
		_, err = f.send(t, a, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindContactChangeNew,
			TokenSeq: 1, TokenExpires: expires})
		assertNonRetryable(t, err, mail.ErrTypeTemplate)
		_, err = f.send(t, a, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindContactChangeNew, Seq: 1,
			To: other.Seal(newAddress), TokenSeq: 1, TokenExpires: expires})
		assertNonRetryable(t, err, mail.ErrTypeSecret)
		assert.NotContains(t, err.Error(), newAddress)
		assert.Len(t, f.smtp.Messages(), before)
	})

	t.Run("every mail of the change goes in the lane of a person waiting", func(t *testing.T) {
		for _, kind := range []mail.Kind{mail.KindContactChangeCurrent, mail.KindContactChangeNew, mail.KindContactChanged, mail.KindContactChangedPrevious} {
			assert.Equal(t, mail.LaneUrgent, mail.LaneOf(kind), kind)
		}
	})
}
