package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/gorm"

	"jardinier/activities/mail"
	"jardinier/activities/mail/mailtest"
	"jardinier/models"
	"jardinier/models/modeltest"
)

const (
	from       = "Jardinier <ne-pas-repondre@jardinier.example>"
	moderators = "moderation@jardinier.example"
	baseDomain = "jardinier.example"
	publicURL  = "https://jardinier.example"
)

// submitted is 30 November 23:30 UTC: already 1 December in Paris.
var submitted = time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC)

// fixture is one test's database, SMTP server and mail activities.
type fixture struct {
	db        *gorm.DB
	smtp      *mailtest.Server
	sealer    *models.Sealer
	signer    *models.Signer
	templates *mail.Templates
	logs      *syncBuffer // what the activities logged
}

func setup(t *testing.T) *fixture {
	t.Helper()
	sealer, err := models.NewSealer(modeltest.SecretKey)
	require.NoError(t, err)
	templates, err := mail.LoadTemplates(mail.DefaultLanguage)
	require.NoError(t, err)
	return &fixture{db: modeltest.NewDB(t), smtp: mailtest.Start(t), sealer: sealer,
		signer: models.NewSigner(modeltest.SecretKey), templates: templates, logs: &syncBuffer{}}
}

// activities returns the mail activities sending through sender, or through the test
// SMTP server if sender is nil.
func (f *fixture) activities(t *testing.T, sender mail.Sender) *mail.Activities {
	t.Helper()
	if sender == nil {
		smtpSender, err := mail.NewSMTPSender(f.smtp.URL())
		require.NoError(t, err)
		sender = smtpSender
	}
	return &mail.Activities{DB: f.db, Sender: sender, Templates: f.templates, Sealer: f.sealer,
		Signer: f.signer, From: from, ModeratorsEmail: moderators, BaseDomain: baseDomain, PublicURL: publicURL}
}

// send runs the Send activity once, as one attempt of the Temporal activity.
func (f *fixture) send(t *testing.T, a *mail.Activities, in mail.SendInput) (mail.SendResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(f.logs, nil))))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.Send, in)
	if err != nil {
		return mail.SendResult{}, err
	}
	var res mail.SendResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

// deliver sends one mail of kind about a new application for slug, and returns the
// input sent and the mail received, checked to be the only one, sent to the contact or,
// when to is "moderators", to the moderators.
func (f *fixture) deliver(t *testing.T, a *mail.Activities, slug string, kind mail.Kind, in mail.SendInput, to string) (mail.SendInput, mailtest.Received) {
	t.Helper()
	app := f.newApplication(t, slug)
	in.Slug, in.ApplicationID, in.Kind = slug, app.ID, kind
	res, err := f.send(t, a, in)
	require.NoError(t, err)
	got := f.messagesWithID(res.MessageID)
	require.Len(t, got, 1)
	want := app.ContactEmail
	if to == "moderators" {
		want = moderators
	}
	assert.Equal(t, []string{want}, got[0].To)
	return in, got[0]
}

// newApplication stores an application for slug, submitted at `submitted`.
func (f *fixture) newApplication(t *testing.T, slug string) models.Application {
	t.Helper()
	return modeltest.CreateApplication(t, f.db, slug, submitted)
}

func (f *fixture) sentMail(t *testing.T, in mail.SendInput) models.SentMail {
	t.Helper()
	var row models.SentMail
	require.NoError(t, f.db.Where("key = ?", in.Key()).Take(&row).Error)
	return row
}

// messagesWithID returns the mails the server received with that Message-ID.
func (f *fixture) messagesWithID(id string) []mailtest.Received {
	var out []mailtest.Received
	for _, m := range f.smtp.Messages() {
		if m.MessageID == id {
			out = append(out, m)
		}
	}
	return out
}

func TestSend(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)

	t.Run("each kind reaches its recipient in French, with the space's details", func(t *testing.T) {
		for _, tc := range []struct {
			kind    mail.Kind
			in      mail.SendInput
			to      string
			subject string
			phrases []string
		}{
			{kind: mail.KindReceipt, to: "contact", subject: "Votre demande d'espace « jardin-receipt » a bien été reçue",
				phrases: []string{"Nous avons bien reçu, le 1er décembre 2026", "« Les Amis du Jardin partagé »",
					"https://jardin-receipt.jardinier.example", "dans un délai de 1 à 10 jours", "Vous n'avez rien à faire"}},
			{kind: mail.KindOnHold, to: "contact", subject: "Votre demande d'espace « jardin-on_hold » est en attente",
				phrases: []string{"déposée le 1er décembre 2026", "jardin-on_hold", "remplit les conditions",
					"pas de place disponible", "d'autres demandes sont prioritaires", "sans que nous puissions vous promettre de délai",
					"retirer votre demande, puis en déposer une nouvelle plus tard"}},
			{kind: mail.KindRejected, in: mail.SendInput{Reason: "Votre organisation est une entreprise."}, to: "contact",
				subject: "Votre demande d'espace « jardin-rejected » n'a pas été acceptée",
				phrases: []string{"Nous sommes au regret", "déposée le 1er décembre 2026", "jardin-rejected",
					"Motif indiqué par les modérateurs : Votre organisation est une entreprise.",
					"toutes les données qu'elle contient", "vont maintenant être supprimées"}},
			{kind: mail.KindAccepted, in: mail.SendInput{AdminUser: "admin", Password: f.sealer.Seal("Tr3s-S3cret")}, to: "contact",
				subject: "Votre espace « jardin-accepted » est prêt",
				phrases: []string{"Adresse de votre espace : https://jardin-accepted.jardinier.example",
					"Identifiant de l'administrateur : admin", "Mot de passe provisoire : Tr3s-S3cret",
					"Lors de votre première connexion, changez immédiatement ce mot de passe",
					"50 comptes au maximum", "50 Go de stockage au total, partagés entre tous les comptes",
					"500 Mo au maximum par fichier vidéo"}},
			{kind: mail.KindProvisioningFailed, in: mail.SendInput{Detail: "create bucket \"space-x\": timeout"}, to: "moderators",
				subject: "[Jardinier] Échec de la création de l'espace « jardin-provisioning_failed »",
				phrases: []string{"L'espace « jardin-provisioning_failed » de « Les Amis du Jardin partagé »",
					"n'a pas pu être créé", "a été annulé", "create bucket \"space-x\": timeout",
					"en acceptant de nouveau la demande", "ou refuser la demande"}},
		} {
			t.Run(string(tc.kind), func(t *testing.T) {
				_, got := f.deliver(t, a, "jardin-"+string(tc.kind), tc.kind, tc.in, tc.to)
				assert.Equal(t, "ne-pas-repondre@jardinier.example", got.From)
				assert.Equal(t, tc.subject, got.Subject)
				for _, p := range tc.phrases {
					assert.Contains(t, got.Body, p)
				}
				assert.Contains(t, string(got.Data), "Content-Type: text/plain; charset=UTF-8")
			})
		}
	})

	t.Run("the accepted mail gives the limits provisioning recorded for the space", func(t *testing.T) {
		app := f.newApplication(t, "jardin-limits")
		l := models.LimitsOf(30, 40, 400)
		require.NoError(t, f.db.Create(&models.Space{Slug: app.Slug, ApplicationID: &app.ID, Status: models.StatusActive,
			MaxAccounts: l.MaxAccounts, QuotaBytes: l.QuotaBytes, MaxVideoBytes: l.MaxVideoBytes}).Error)
		res, err := f.send(t, a, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindAccepted, AdminUser: "admin",
			Password: f.sealer.Seal("Mot-de-passe-43")})
		require.NoError(t, err)
		got := f.messagesWithID(res.MessageID)
		require.Len(t, got, 1)
		for _, p := range []string{"30 comptes au maximum", "40 Go de stockage au total", "400 Mo au maximum par fichier vidéo"} {
			assert.Contains(t, got[0].Body, p)
		}
	})

	t.Run("the accepted mail carries the password in clear, the input only sealed", func(t *testing.T) {
		app := f.newApplication(t, "jardin-password")
		sealed := f.sealer.Seal("Mot-de-passe-42")
		res, err := f.send(t, a, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID,
			Kind: mail.KindAccepted, AdminUser: "admin", Password: sealed})
		require.NoError(t, err)

		got := f.messagesWithID(res.MessageID)
		require.Len(t, got, 1)
		assert.Contains(t, got[0].Body, "Mot-de-passe-42")
		assert.NotContains(t, got[0].Body, string(sealed))
		assert.NotContains(t, string(sealed), "Mot-de-passe-42")
	})

	t.Run("sending the same mail twice delivers it once and reports the second as already sent", func(t *testing.T) {
		app := f.newApplication(t, "jardin-twice")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindReceipt}

		first, err := f.send(t, a, in)
		require.NoError(t, err)
		second, err := f.send(t, a, in)
		require.NoError(t, err)

		assert.False(t, first.AlreadySent)
		assert.True(t, second.AlreadySent)
		assert.Equal(t, first.MessageID, second.MessageID)
		assert.Len(t, f.messagesWithID(first.MessageID), 1)
		row := f.sentMail(t, in)
		assert.True(t, row.Sent)
		assert.NotNil(t, row.SentAt)
	})

	t.Run("another Seq of the same kind is another mail", func(t *testing.T) {
		app := f.newApplication(t, "jardin-seq")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindOnHold}
		first, err := f.send(t, a, in)
		require.NoError(t, err)
		in.Seq = 1
		second, err := f.send(t, a, in)
		require.NoError(t, err)

		assert.False(t, second.AlreadySent)
		assert.NotEqual(t, first.MessageID, second.MessageID)
	})

	t.Run("a later application taking a freed slug gets its own mails", func(t *testing.T) {
		earlier := f.newApplication(t, "jardin-reused")
		first, err := f.send(t, a, mail.SendInput{Slug: "jardin-reused", ApplicationID: earlier.ID, Kind: mail.KindReceipt})
		require.NoError(t, err)
		later := f.newApplication(t, "jardin-reused")
		second, err := f.send(t, a, mail.SendInput{Slug: "jardin-reused", ApplicationID: later.ID, Kind: mail.KindReceipt})
		require.NoError(t, err)

		assert.False(t, second.AlreadySent)
		assert.NotEqual(t, first.MessageID, second.MessageID, "mail clients would hide the second one")
	})

	t.Run("a mail the server refuses for now stays unsent, and the retry delivers it once", func(t *testing.T) {
		app := f.newApplication(t, "jardin-refused")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindReceipt}
		f.smtp.RejectNext(1)

		_, err := f.send(t, a, in)
		require.Error(t, err)
		assertRetryable(t, err)
		assert.NotContains(t, err.Error(), app.ContactEmail)
		row := f.sentMail(t, in)
		assert.False(t, row.Sent)
		assert.Empty(t, f.messagesWithID(row.MessageID))

		res, err := f.send(t, a, in)
		require.NoError(t, err)
		assert.False(t, res.AlreadySent)
		assert.Equal(t, row.MessageID, res.MessageID)
		assert.Len(t, f.messagesWithID(res.MessageID), 1)
		assert.True(t, f.sentMail(t, in).Sent)
	})

	t.Run("an address the server refuses for good is not retried", func(t *testing.T) {
		app := f.newApplication(t, "jardin-bounce")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindReceipt}
		f.smtp.BounceNext(1)

		_, err := f.send(t, a, in)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, mail.ErrTypeRefused, appErr.Type())
		assert.NotContains(t, err.Error(), app.ContactEmail)
		assert.False(t, f.sentMail(t, in).Sent)
	})

	t.Run("an unreachable server fails the attempt, to be retried", func(t *testing.T) {
		app := f.newApplication(t, "jardin-unreachable")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindReceipt}
		down, err := mail.NewSMTPSender("smtp://" + closedAddr(t) + "?tls=none")
		require.NoError(t, err)

		_, err = f.send(t, f.activities(t, down), in)
		require.Error(t, err)
		assertRetryable(t, err)
		assert.False(t, f.sentMail(t, in).Sent)

		res, err := f.send(t, a, in)
		require.NoError(t, err)
		assert.Len(t, f.messagesWithID(res.MessageID), 1)
	})

	t.Run("a mail the server took but that was never marked sent goes again with the same Message-ID", func(t *testing.T) {
		app := f.newApplication(t, "jardin-crash")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindReceipt}
		// The worker dies right after the server accepted the mail.
		crashing := crashAfterSend{next: a.Sender}

		_, err := f.send(t, f.activities(t, crashing), in)
		require.Error(t, err)
		row := f.sentMail(t, in)
		require.False(t, row.Sent)

		res, err := f.send(t, a, in)
		require.NoError(t, err)
		assert.False(t, res.AlreadySent)
		assert.Equal(t, row.MessageID, res.MessageID)
		assert.Len(t, f.messagesWithID(row.MessageID), 2, "both copies carry one Message-ID")
		assert.True(t, f.sentMail(t, in).Sent)
	})

	t.Run("concurrent first attempts share one row and one Message-ID", func(t *testing.T) {
		app := f.newApplication(t, "jardin-concurrent")
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindReceipt}
		var wg sync.WaitGroup
		ids := make([]string, 4)
		for i := range ids {
			wg.Go(func() {
				res, err := f.send(t, a, in)
				assert.NoError(t, err)
				ids[i] = res.MessageID
			})
		}
		wg.Wait()

		var rows int64
		require.NoError(t, f.db.Model(&models.SentMail{}).Where("key = ?", in.Key()).Count(&rows).Error)
		assert.EqualValues(t, 1, rows)
		for _, id := range ids {
			assert.Equal(t, ids[0], id)
		}
		assert.NotEmpty(t, f.messagesWithID(ids[0]))
	})

	t.Run("a purged application fails for good: there is nobody to write to", func(t *testing.T) {
		for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
			_, err := f.send(t, a, mail.SendInput{Slug: "jardin-purged", ApplicationID: id, Kind: mail.KindRejected})
			assertNonRetryable(t, err, mail.ErrTypeNoRecipient)
		}
	})

	t.Run("a kind without template fails for good", func(t *testing.T) {
		app := f.newApplication(t, "jardin-unknown")
		_, err := f.send(t, a, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: "greetings"})
		assertNonRetryable(t, err, mail.ErrTypeTemplate)
	})

	t.Run("an accepted mail without password fails for good", func(t *testing.T) {
		app := f.newApplication(t, "jardin-nopass")
		_, err := f.send(t, a, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindAccepted, AdminUser: "admin"})
		assertNonRetryable(t, err, mail.ErrTypeTemplate)
	})

	t.Run("a password sealed with another key fails for good, without sending", func(t *testing.T) {
		app := f.newApplication(t, "jardin-otherkey")
		other, err := models.NewSealer([]byte("ffffffffffffffffffffffffffffffff"))
		require.NoError(t, err)
		in := mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindAccepted,
			AdminUser: "admin", Password: other.Seal("secret")}
		_, err = f.send(t, a, in)
		assertNonRetryable(t, err, mail.ErrTypeSecret)
		assert.Empty(t, f.messagesWithID(f.sentMail(t, in).MessageID))
	})

	t.Run("logs name the slug and kind, never the address or the password", func(t *testing.T) {
		logs := f.logs.String()
		assert.Contains(t, logs, "jardin-receipt")
		assert.Contains(t, logs, "kind=receipt")
		assert.NotContains(t, logs, "@asso.example")
		assert.NotContains(t, logs, "Tr3s-S3cret")
		assert.NotContains(t, logs, "Mot-de-passe-42")
	})
}

// The dates of the inactivity mails. Paris is one hour ahead of UTC in winter, two in
// summer (from 28 March 2027).
var (
	lastActivity = time.Date(2026, 11, 23, 13, 5, 0, 0, time.UTC) // 23 November 2026, 14:05 in Paris
	nextStep     = time.Date(2027, 1, 22, 13, 5, 0, 0, time.UTC)  // 22 January 2027, 14:05 in Paris
	deletion     = time.Date(2027, 3, 31, 22, 30, 0, 0, time.UTC) // 1 April 2027, 00:30 in Paris
	confirmBy    = time.Date(2027, 1, 1, 11, 0, 0, 0, time.UTC)   // 1 January 2027, 12:00 in Paris
	beforeExpiry = time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC)  // when a test clicks the links
)

// linkPattern finds the signed link of a mail: its page and its token.
var linkPattern = regexp.MustCompile(`https://jardinier\.example/(reactivate|confirm)\?token=(\S+)`)

func TestSendSpaceMails(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)
	dates := mail.SendInput{LastActivityAt: lastActivity, NextStepAt: nextStep, DeletionAt: deletion}
	withLink := func(in mail.SendInput, seq int, expires time.Time) mail.SendInput {
		in.TokenSeq, in.TokenExpires = seq, expires
		return in
	}
	withActor := func(in mail.SendInput, actor, reason string) mail.SendInput {
		in.Actor, in.Reason = actor, reason
		return in
	}
	var tokens []string // every token mailed, to look for in the logs

	t.Run("each mail of a space in service reaches its recipient in French, with its dates and link", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			slug    string
			kind    mail.Kind
			in      mail.SendInput
			to      string
			subject string
			phrases []string
			absent  []string
			link    string              // the page the signed link opens, "" if the mail has none
			purpose models.TokenPurpose // what its token allows
			expires time.Time
		}{
			{name: "first warning", slug: "jardin-warn1", kind: mail.KindFirstWarning, in: dates, to: "contact",
				subject: "Votre espace « jardin-warn1 » n'est plus utilisé : premier avertissement",
				phrases: []string{"Personne ne s'est connecté à votre espace Jardinier « jardin-warn1 » (https://jardin-warn1.jardinier.example)",
					"depuis le 23 novembre 2026 à 14 h 05", "il vous suffit de vous y connecter",
					"Toute connexion, ou toute synchronisation", "de n'importe quel compte de l'espace",
					"le 22 janvier 2027 à 14 h 05, vous recevrez un second avertissement", "votre espace sera ensuite désactivé",
					"le 1er avril 2027 à 0 h 30, il sera supprimé définitivement, avec toutes ses données",
					"d'autres organisations attendent la leur", "non à l'archivage de données",
					"vous pouvez aussi le supprimer vous-même"}},
			{name: "second warning", slug: "jardin-warn2", kind: mail.KindSecondWarning, in: dates, to: "contact",
				subject: "Dernier avertissement : votre espace « jardin-warn2 » va être désactivé",
				phrases: []string{"Malgré notre premier avertissement", "depuis le 23 novembre 2026 à 14 h 05",
					"le 22 janvier 2027 à 14 h 05, votre espace sera désactivé",
					"le 1er avril 2027 à 0 h 30, il sera supprimé définitivement, avec toutes ses données",
					"connectez-vous dès maintenant", "non à l'archivage de données", "vous pouvez aussi le supprimer vous-même"}},
			{name: "deactivated for inactivity", slug: "jardin-deact", kind: mail.KindDeactivated, in: withLink(dates, 3, deletion), to: "contact",
				subject: "Votre espace « jardin-deact » a été désactivé",
				phrases: []string{"depuis le 23 novembre 2026 à 14 h 05, il a été désactivé",
					"toutes ses adresses (fichiers, liens de partage, agendas) affichent désormais une page indiquant qu'il est désactivé",
					"https://jardinier.example/spaces/jardin-deact/deactivated", "Pour le réactiver immédiatement",
					"valable jusqu'au 1er avril 2027 à 0 h 30 et ne peut servir qu'une seule fois",
					"supprimé définitivement, avec toutes ses données (fichiers, agendas, contacts, comptes), le 1er avril 2027 à 0 h 30"},
				absent: []string{"Motif", "modération"},
				link:   "reactivate", purpose: models.PurposeReactivate, expires: deletion},
			{name: "deactivated by a moderator", slug: "jardin-deact-mod", kind: mail.KindDeactivated,
				in: withActor(withLink(dates, 4, deletion), "camille", "Contenu contraire aux conditions d'utilisation."), to: "contact",
				subject: "Votre espace « jardin-deact-mod » a été désactivé",
				phrases: []string{"a été désactivé par camille, de l'équipe de modération de Jardinier",
					"Motif indiqué : Contenu contraire aux conditions d'utilisation.",
					"valable jusqu'au 1er avril 2027 à 0 h 30"},
				link: "reactivate", purpose: models.PurposeReactivate, expires: deletion},
			{name: "deactivated at the contact's request", slug: "jardin-deact-contact", kind: mail.KindDeactivated,
				in: withActor(withLink(mail.SendInput{DeletionAt: deletion}, 1, deletion), "contact", ""), to: "contact",
				subject: "Votre espace « jardin-deact-contact » a été désactivé",
				phrases: []string{"Comme vous l'avez demandé, votre espace Jardinier « jardin-deact-contact »",
					"https://jardinier.example/spaces/jardin-deact-contact/deactivated"},
				absent: []string{"modération", "Motif"},
				link:   "reactivate", purpose: models.PurposeReactivate, expires: deletion},
			{name: "deletion notice", slug: "jardin-notice", kind: mail.KindDeletionNotice, in: withLink(dates, 3, deletion), to: "contact",
				subject: "Votre espace « jardin-notice » sera supprimé le 1er avril 2027 à 0 h 30",
				phrases: []string{"est désactivé", "supprimé définitivement, avec toutes ses données",
					"le 1er avril 2027 à 0 h 30", "le lien de réactivation que nous vous avons envoyé fonctionne toujours",
					"valable jusqu'au 1er avril 2027 à 0 h 30", "https://jardinier.example/spaces/jardin-notice/deactivated"},
				link: "reactivate", purpose: models.PurposeReactivate, expires: deletion},
			{name: "deleted for inactivity", slug: "jardin-deleted", kind: mail.KindDeleted, in: dates, to: "contact",
				subject: "Votre espace « jardin-deleted » a été supprimé",
				phrases: []string{"Faute de réactivation", "« jardin-deleted » et toutes ses données ont été supprimés le 1er avril 2027 à 0 h 30",
					"ne peuvent plus être récupérées", "Le nom « jardin-deleted » reste réservé pendant 90 jours",
					"vous pouvez déposer une nouvelle demande"},
				absent: []string{"Motif"}},
			{name: "deleted by a moderator", slug: "jardin-deleted-mod", kind: mail.KindDeleted, in: withActor(mail.SendInput{}, "camille", "Espace abandonné."),
				to: "contact", subject: "Votre espace « jardin-deleted-mod » a été supprimé",
				phrases: []string{"ont été supprimés par camille, de l'équipe de modération de Jardinier.",
					"Motif indiqué : Espace abandonné.", "réservé pendant 90 jours"}},
			{name: "deleted, to the moderators", slug: "jardin-deleted-moderators", kind: mail.KindDeletedModerators,
				in: withActor(mail.SendInput{DeletionAt: deletion}, "camille", "Espace abandonné."), to: "moderators",
				subject: "[Jardinier] Espace « jardin-deleted-moderators » supprimé",
				phrases: []string{"L'espace « jardin-deleted-moderators » de « Les Amis du Jardin partagé » a été supprimé avec toutes ses données le 1er avril 2027 à 0 h 30",
					"Supprimé par : camille", "Motif : Espace abandonné."}},
			{name: "deleted at the contact's request, to the moderators", slug: "jardin-deleted-moderators-contact", kind: mail.KindDeletedModerators,
				in: withActor(mail.SendInput{}, "contact", ""), to: "moderators",
				subject: "[Jardinier] Espace « jardin-deleted-moderators-contact » supprimé",
				phrases: []string{"Supprimé par : le contact de l'espace, à sa demande", "Motif : aucun motif indiqué"}},
			{name: "deleted for inactivity, to the moderators", slug: "jardin-deleted-moderators-system", kind: mail.KindDeletedModerators,
				in: withActor(mail.SendInput{DeletionAt: deletion}, "system", ""), to: "moderators",
				subject: "[Jardinier] Espace « jardin-deleted-moderators-system » supprimé",
				phrases: []string{"Supprimé par : Jardinier, en application de la politique d'inactivité"}},
			{name: "reactivated by a moderator", slug: "jardin-reactivated", kind: mail.KindReactivated,
				in: withActor(mail.SendInput{NextStepAt: nextStep}, "camille", ""), to: "contact",
				subject: "Votre espace « jardin-reactivated » est de nouveau en service",
				phrases: []string{"a été réactivé par camille, de l'équipe de modération de Jardinier",
					"de nouveau en service, avec toutes ses données", "https://jardin-reactivated.jardinier.example",
					"Continuez simplement à utiliser votre espace",
					"La politique d'inactivité s'applique de nouveau à compter d'aujourd'hui",
					"d'ici le 22 janvier 2027 à 14 h 05, vous recevrez un premier avertissement"}},
			{name: "reactivated by the contact", slug: "jardin-reactivated-contact", kind: mail.KindReactivated, in: withActor(mail.SendInput{}, "contact", ""), to: "contact",
				subject: "Votre espace « jardin-reactivated-contact » est de nouveau en service",
				phrases: []string{"Comme vous l'avez demandé, votre espace Jardinier « jardin-reactivated-contact » a été réactivé.",
					"La politique d'inactivité s'applique de nouveau à compter d'aujourd'hui."},
				absent: []string{"modération"}},
			{name: "confirm deactivation", slug: "jardin-confirm-deact", kind: mail.KindConfirmDeactivation, in: withLink(mail.SendInput{}, 2, confirmBy), to: "contact",
				subject: "Confirmez la désactivation de votre espace « jardin-confirm-deact »",
				phrases: []string{"Quelqu'un a demandé, depuis le site de Jardinier (https://jardinier.example), la désactivation de votre espace « jardin-confirm-deact »",
					"Si cette demande vient de vous, confirmez-la", "valable jusqu'au 1er janvier 2027 à 12 h 00",
					"Cette suppression sera irréversible",
					"Si cette demande ne vient pas de vous, ignorez simplement ce courriel : rien ne sera fait"},
				link: "confirm", purpose: models.PurposeConfirmDeactivation, expires: confirmBy},
			{name: "confirm deletion", slug: "jardin-confirm-delete", kind: mail.KindConfirmDeletion, in: withLink(mail.SendInput{}, 5, confirmBy), to: "contact",
				subject: "Confirmez la suppression de votre espace « jardin-confirm-delete »",
				phrases: []string{"la suppression de votre espace « jardin-confirm-delete »", "la suppression est irréversible",
					"toutes ses données", "ne pourront pas être récupérés", "valable jusqu'au 1er janvier 2027 à 12 h 00",
					"Si cette demande ne vient pas de vous, ignorez simplement ce courriel : rien ne sera fait"},
				link: "confirm", purpose: models.PurposeConfirmDeletion, expires: confirmBy},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in, got := f.deliver(t, a, tc.slug, tc.kind, tc.in, tc.to)
				assert.Equal(t, tc.subject, got.Subject)
				for _, p := range tc.phrases {
					assert.Contains(t, got.Body, p)
				}
				for _, p := range tc.absent {
					assert.NotContains(t, got.Body, p)
				}

				links := linkPattern.FindAllStringSubmatch(got.Body, -1)
				if tc.link == "" {
					assert.Empty(t, links, "no signed link")
					return
				}
				require.Len(t, links, 1, "one signed link")
				assert.Equal(t, tc.link, links[0][1])
				token := links[0][2]
				tokens = append(tokens, token)
				lt, err := models.NewSigner(modeltest.SecretKey).Verify(token, tc.purpose, beforeExpiry)
				require.NoError(t, err)
				assert.Equal(t, tc.slug, lt.Slug)
				assert.Equal(t, in.TokenSeq, lt.Seq)
				assert.True(t, tc.expires.Equal(lt.Expires), "expires %s, want %s", lt.Expires, tc.expires)
				_, err = models.NewSigner(modeltest.SecretKey).Verify(token, tc.purpose, tc.expires)
				assert.ErrorIs(t, err, models.ErrTokenExpired)
				for _, other := range []models.TokenPurpose{models.PurposeReactivate, models.PurposeConfirmDeactivation,
					models.PurposeConfirmDeletion} {
					if other != tc.purpose {
						_, err := models.NewSigner(modeltest.SecretKey).Verify(token, other, beforeExpiry)
						assert.ErrorIs(t, err, models.ErrTokenInvalid, "a %s link cannot %s", tc.purpose, other)
					}
				}
			})
		}
	})

	t.Run("a mail sent again after a lost attempt carries the same link", func(t *testing.T) {
		app := f.newApplication(t, "jardin-relink")
		in := withLink(dates, 7, deletion)
		in.Slug, in.ApplicationID, in.Kind = app.Slug, app.ID, mail.KindDeactivated
		_, err := f.send(t, f.activities(t, crashAfterSend{next: a.Sender}), in)
		require.Error(t, err)
		res, err := f.send(t, a, in)
		require.NoError(t, err)

		got := f.messagesWithID(res.MessageID)
		require.Len(t, got, 2)
		first, second := linkPattern.FindString(got[0].Body), linkPattern.FindString(got[1].Body)
		assert.NotEmpty(t, first)
		assert.Equal(t, first, second)
		tokens = append(tokens, linkPattern.FindStringSubmatch(first)[2])
	})

	t.Run("the moderators hear of a deletion even once the application is purged", func(t *testing.T) {
		res, err := f.send(t, a, mail.SendInput{Slug: "jardin-purged-deleted", ApplicationID: uuid.NewString(),
			Kind: mail.KindDeletedModerators, Actor: "system", DeletionAt: deletion})
		require.NoError(t, err)
		got := f.messagesWithID(res.MessageID)
		require.Len(t, got, 1)
		assert.Equal(t, []string{moderators}, got[0].To)
		assert.Contains(t, got[0].Body, "L'espace « jardin-purged-deleted » a été supprimé avec toutes ses données le 1er avril 2027 à 0 h 30.")
	})

	t.Run("a mail with a link but no expiry fails for good, before anything is recorded", func(t *testing.T) {
		for _, kind := range []mail.Kind{mail.KindDeactivated, mail.KindDeletionNotice,
			mail.KindConfirmDeactivation, mail.KindConfirmDeletion} {
			app := f.newApplication(t, "jardin-noexpiry-"+strings.ReplaceAll(string(kind), "_", "-"))
			in := withLink(dates, 1, time.Time{})
			in.Slug, in.ApplicationID, in.Kind = app.Slug, app.ID, kind
			_, err := f.send(t, a, in)
			assertNonRetryable(t, err, mail.ErrTypeTemplate)
			assert.ErrorContains(t, err, "TokenExpires")
			assert.Zero(t, f.countSentMails(t, in), kind)
		}
	})

	t.Run("a mail with a link fails for good when there is no key to sign it", func(t *testing.T) {
		unsigned := f.activities(t, nil)
		unsigned.Signer = nil
		for _, kind := range []mail.Kind{mail.KindDeactivated, mail.KindDeletionNotice,
			mail.KindConfirmDeactivation, mail.KindConfirmDeletion} {
			app := f.newApplication(t, "jardin-nosigner-"+strings.ReplaceAll(string(kind), "_", "-"))
			in := withLink(dates, 1, deletion)
			in.Slug, in.ApplicationID, in.Kind = app.Slug, app.ID, kind
			_, err := f.send(t, unsigned, in)
			assertNonRetryable(t, err, mail.ErrTypeTemplate)
			assert.Zero(t, f.countSentMails(t, in), kind)
		}

		app := f.newApplication(t, "jardin-nosigner-warning")
		in := dates
		in.Slug, in.ApplicationID, in.Kind = app.Slug, app.ID, mail.KindFirstWarning
		_, err := f.send(t, unsigned, in)
		assert.NoError(t, err, "mails without a link need no key")
	})

	t.Run("a mail missing a date it states fails for good", func(t *testing.T) {
		for _, tc := range []struct {
			kind  mail.Kind
			in    mail.SendInput
			field string
		}{
			{mail.KindFirstWarning, mail.SendInput{NextStepAt: nextStep, DeletionAt: deletion}, "LastActivityAt"},
			{mail.KindSecondWarning, mail.SendInput{LastActivityAt: lastActivity, DeletionAt: deletion}, "NextStepAt"},
			{mail.KindFirstWarning, mail.SendInput{LastActivityAt: lastActivity, NextStepAt: nextStep}, "DeletionAt"},
			{mail.KindDeactivated, withLink(mail.SendInput{}, 1, deletion), "DeletionAt"},
			{mail.KindDeletionNotice, withLink(mail.SendInput{}, 1, deletion), "DeletionAt"},
		} {
			app := f.newApplication(t, "jardin-nodate")
			in := tc.in
			in.Slug, in.ApplicationID, in.Kind = app.Slug, app.ID, tc.kind
			_, err := f.send(t, a, in)
			assertNonRetryable(t, err, mail.ErrTypeTemplate)
			assert.ErrorContains(t, err, tc.field)
		}
	})

	t.Run("logs never show a link's token", func(t *testing.T) {
		require.NotEmpty(t, tokens)
		logs := f.logs.String()
		assert.Contains(t, logs, "kind=deactivated")
		for _, token := range tokens {
			assert.NotContains(t, logs, token)
			body, _, _ := strings.Cut(token, ".")
			assert.NotContains(t, logs, body, "not even its unsigned part")
		}
	})
}

// countSentMails counts the rows recorded for in's mail.
func (f *fixture) countSentMails(t *testing.T, in mail.SendInput) int64 {
	t.Helper()
	var n int64
	require.NoError(t, f.db.Model(&models.SentMail{}).Where("key = ?", in.Key()).Count(&n).Error)
	return n
}

func TestRender(t *testing.T) {
	templates, err := mail.LoadTemplates(mail.DefaultLanguage)
	require.NoError(t, err)
	data := mail.Data{ServiceName: "Jardinier", OrganizationName: "Club de lecture", Slug: "lecture",
		SpaceURL: "https://lecture.jardinier.example", Date: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		PublicURL: publicURL, MaxAccounts: 50, StorageGB: 50, MaxVideoMB: 500,
		LastActivityDate: lastActivity, NextStepDate: nextStep, DeletionDate: deletion,
		Link: publicURL + "/reactivate?token=t", LinkExpiryDate: deletion,
		DeactivatedURL: publicURL + "/spaces/lecture/deactivated", ReservedDays: 90}

	t.Run("dates are written the French way, in Paris time", func(t *testing.T) {
		_, body, err := templates.Render(mail.KindReceipt, data)
		require.NoError(t, err)
		assert.Contains(t, body, "le 23 novembre 2026,")

		data := data
		data.Date = time.Date(2027, 7, 31, 22, 15, 0, 0, time.UTC) // 00:15 on 1 August in Paris
		_, body, err = templates.Render(mail.KindReceipt, data)
		require.NoError(t, err)
		assert.Contains(t, body, "le 1er août 2027,")
	})

	t.Run("dates with their time are written the French way, in Paris time, summer or winter", func(t *testing.T) {
		data := data
		data.LastActivityDate = time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC) // midnight on 1 February in Paris
		data.NextStepDate = time.Date(2027, 7, 14, 7, 9, 0, 0, time.UTC)      // 9:09 in Paris, summer time
		data.DeletionDate = time.Date(2027, 12, 24, 17, 45, 59, 0, time.UTC)  // 18:45 in Paris, winter time
		_, body, err := templates.Render(mail.KindFirstWarning, data)
		require.NoError(t, err)
		assert.Contains(t, body, "depuis le 1er février 2027 à 0 h 00.")
		assert.Contains(t, body, "le 14 juillet 2027 à 9 h 09,")
		assert.Contains(t, body, "le 24 décembre 2027 à 18 h 45,")
	})

	t.Run("a date a mail states but was not given is an error, not the year 1", func(t *testing.T) {
		data := data
		data.DeletionDate = time.Time{}
		_, _, err := templates.Render(mail.KindFirstWarning, data)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "DeletionDate")
	})

	t.Run("optional dates are left out when not given", func(t *testing.T) {
		data := data
		data.DeletionDate, data.NextStepDate = time.Time{}, time.Time{}
		for _, kind := range []mail.Kind{mail.KindDeleted, mail.KindDeletedModerators, mail.KindReactivated} {
			_, body, err := templates.Render(kind, data)
			require.NoError(t, err, kind)
			assert.NotContains(t, body, " le 1er janvier 1", kind)
			assert.NotContains(t, body, "d'ici le", kind)
		}
	})

	t.Run("a refusal without reason says none was given", func(t *testing.T) {
		_, body, err := templates.Render(mail.KindRejected, data)
		require.NoError(t, err)
		assert.Contains(t, body, "Aucun motif particulier n'a été indiqué")
		assert.NotContains(t, body, "Motif indiqué")
	})

	t.Run("a hold without reason shows no empty reason line", func(t *testing.T) {
		_, body, err := templates.Render(mail.KindOnHold, data)
		require.NoError(t, err)
		assert.NotContains(t, body, "Précision des modérateurs")
		assert.NotContains(t, body, "\n\n\n")
	})

	t.Run("subjects are one line, bodies end with one newline", func(t *testing.T) {
		for _, kind := range mail.Kinds {
			subject, body, err := templates.Render(kind, data)
			require.NoError(t, err)
			assert.NotContains(t, subject, "\n")
			assert.True(t, strings.HasSuffix(body, ".\n"), kind)
			assert.False(t, strings.HasSuffix(body, "\n\n"), kind)
		}
	})

	t.Run("an unknown kind is an error", func(t *testing.T) {
		_, _, err := templates.Render("greetings", data)
		assert.ErrorIs(t, err, mail.ErrUnknownKind)
	})

	t.Run("a language without templates cannot be loaded", func(t *testing.T) {
		_, err := mail.LoadTemplates("de")
		assert.Error(t, err)
	})
}

func TestDirSender(t *testing.T) {
	f := setup(t)

	t.Run("the activity writes one parseable .eml per mail, readable by its owner only", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mail") // missing: created
		sender, err := mail.NewDirSender(dir)
		require.NoError(t, err)
		app := f.newApplication(t, "jardin-dir")

		res, err := f.send(t, f.activities(t, sender), mail.SendInput{Slug: app.Slug, ApplicationID: app.ID,
			Kind: mail.KindAccepted, AdminUser: "admin", Password: f.sealer.Seal("Dir-Secret-1")})
		require.NoError(t, err)

		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file left behind")
		name := entries[0].Name()
		assert.True(t, strings.HasSuffix(name, "-"+res.MessageID+".eml"), name)
		info, err := entries[0].Info()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

		raw, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		got, err := mailtest.Decode(raw)
		require.NoError(t, err)
		assert.Equal(t, res.MessageID, got.MessageID)
		assert.Equal(t, "Votre espace « jardin-dir » est prêt", got.Subject)
		assert.Contains(t, got.Body, "Mot de passe provisoire : Dir-Secret-1")
		assert.Contains(t, string(raw), "To: <"+app.ContactEmail+">")
		assert.Contains(t, string(raw), "Auto-Submitted: auto-generated")
	})
}

func TestNewSMTPSender(t *testing.T) {
	t.Run("accepts smtp and smtps URLs", func(t *testing.T) {
		for _, u := range []string{"smtp://relay.example:25", "smtp://relay.example", "smtp://u:p@relay.example:587",
			"smtp://relay.example:587?tls=required", "smtp://127.0.0.1:2525?tls=none", "smtps://u:p@relay.example"} {
			_, err := mail.NewSMTPSender(u)
			assert.NoError(t, err, u)
		}
	})

	t.Run("refuses other URLs without repeating their password", func(t *testing.T) {
		for _, u := range []string{"http://relay.example", "smtp://:25", "smtp://relay.example?tls=maybe",
			"smtps://relay.example?tls=none", "smtp://user:hunter2@relay.example:x"} {
			_, err := mail.NewSMTPSender(u)
			if assert.Error(t, err, u) {
				assert.NotContains(t, err.Error(), "hunter2")
			}
		}
	})
}

func assertRetryable(t *testing.T, err error) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		assert.False(t, appErr.NonRetryable(), "error should be retryable: %v", err)
	}
}

func assertNonRetryable(t *testing.T, err error, errType string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if assert.ErrorAs(t, err, &appErr) {
		assert.True(t, appErr.NonRetryable(), "error should not be retryable: %v", err)
		assert.Equal(t, errType, appErr.Type())
	}
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// crashAfterSend sends, then fails as a worker dying before it records the mail.
type crashAfterSend struct{ next mail.Sender }

func (c crashAfterSend) Send(ctx context.Context, m mail.Message) error {
	if err := c.next.Send(ctx, m); err != nil {
		return err
	}
	return errors.New("worker lost after the server accepted the mail")
}

// syncBuffer is a bytes.Buffer safe for concurrent activities.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
