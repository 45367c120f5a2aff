package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
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
		templates: templates, logs: &syncBuffer{}}
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
		From: from, ModeratorsEmail: moderators, BaseDomain: baseDomain, PublicURL: publicURL}
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

// newApplication stores an application for slug, submitted at `submitted`.
func (f *fixture) newApplication(t *testing.T, slug string) models.Application {
	t.Helper()
	app := models.Application{ID: uuid.NewString(), Slug: slug,
		OrganizationName: "Les Amis du Jardin partagé", OrganizationType: models.OrgAssociation1901,
		Sectors: pq.StringArray{"environment"}, FoundedYear: 2012, Members: 40,
		Mission: "Cultiver ensemble.", Actions: "Ateliers.", Needs: "Partager des fichiers.",
		AccountsNeeded: 5, OfficeSuite: models.OfficeCollabora, ContactEmail: slug + "@asso.example",
		TermsAcceptedAt: submitted, CreatedAt: submitted}
	require.NoError(t, f.db.Create(&app).Error)
	return app
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
				slug := "jardin-" + string(tc.kind)
				app := f.newApplication(t, slug)
				in := tc.in
				in.Slug, in.ApplicationID, in.Kind = slug, app.ID, tc.kind

				res, err := f.send(t, a, in)
				require.NoError(t, err)

				got := f.messagesWithID(res.MessageID)
				require.Len(t, got, 1)
				want := app.ContactEmail
				if tc.to == "moderators" {
					want = moderators
				}
				assert.Equal(t, []string{want}, got[0].To)
				assert.Equal(t, "ne-pas-repondre@jardinier.example", got[0].From)
				assert.Equal(t, tc.subject, got[0].Subject)
				for _, p := range tc.phrases {
					assert.Contains(t, got[0].Body, p)
				}
				assert.Contains(t, string(got[0].Data), "Content-Type: text/plain; charset=UTF-8")
			})
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

func TestRender(t *testing.T) {
	templates, err := mail.LoadTemplates(mail.DefaultLanguage)
	require.NoError(t, err)
	data := mail.Data{ServiceName: "Jardinier", OrganizationName: "Club de lecture", Slug: "lecture",
		SpaceURL: "https://lecture.jardinier.example", Date: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		PublicURL: publicURL, MaxAccounts: 50, StorageGB: 50, MaxVideoMB: 500}

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
