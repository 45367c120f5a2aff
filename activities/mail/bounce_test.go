package mail_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/mail"
	"jardinier/models"
)

const returnPath = "retours@jardinier.example"

// warning sends the first warning of a new application's space for slug to its
// contact and to admins (addresses), and returns the input and the Message-IDs.
func (f *fixture) warning(t *testing.T, a *mail.Activities, slug string, admins ...string) (mail.SendInput, []string) {
	t.Helper()
	app := f.newApplication(t, slug)
	in := mail.SendInput{Slug: slug, ApplicationID: app.ID, Kind: mail.KindFirstWarning, Seq: 1,
		LastActivityAt: submitted, NextStepAt: submitted.Add(15 * 24 * time.Hour), DeletionAt: submitted.Add(60 * 24 * time.Hour)}
	res, err := f.send(t, a, in)
	require.NoError(t, err)
	ids := []string{res.MessageID}
	for _, addr := range admins {
		to := in
		to.AdminTo = f.sealer.Seal(addr)
		res, err := f.send(t, a, to)
		require.NoError(t, err)
		if !res.Skipped {
			ids = append(ids, res.MessageID)
		}
	}
	return in, ids
}

// delivered runs the Delivered activity on the first warning of in's space.
func (f *fixture) delivered(t *testing.T, a *mail.Activities, in mail.SendInput) mail.DeliveredResult {
	t.Helper()
	res, err := a.Delivered(t.Context(), mail.DeliveredInput{Slug: in.Slug, ApplicationID: in.ApplicationID,
		Mails: []mail.MailRef{{Kind: mail.KindFirstWarning, Seq: 1}, {Kind: mail.KindSecondWarning, Seq: 1}}})
	require.NoError(t, err)
	return res
}

// bounceServer starts the bounce server on a free port and returns its address.
func (f *fixture) bounceServer(t *testing.T, rp string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := mail.NewBounceServer(&mail.Bounces{DB: f.db, ReturnPath: rp, Log: slog.New(slog.NewTextHandler(f.logs, nil))}, "localhost")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-done)
	})
	return l.Addr().String()
}

// dsn writes a delivery status notification as a relay does (RFC 3464), returning the
// mail messageID sent to rcpt, with the given status.
func dsn(messageID, rcpt, action, status, diagnostic string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf(`From: Mail Delivery System <MAILER-DAEMON@relais.example>
To: retours@jardinier.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; relais.example
Arrival-Date: Mon, 30 Nov 2026 23:30:00 +0000

Final-Recipient: rfc822; %[2]s
Original-Recipient: rfc822;%[2]s
Action: %[3]s
Status: %[4]s (comment)
Remote-MTA: dns; mx.asso.example
Diagnostic-Code: smtp; %[5]s

--B0UND
Content-Type: text/rfc822-headers

From: Jardinier <ne-pas-repondre@jardinier.example>
To: %[2]s
Subject: Votre espace
Message-ID: <%[1]s>

--B0UND--
`, messageID, rcpt, action, status, diagnostic), "\n", "\r\n"))
}

// bounce sends a DSN to the bounce server over SMTP, from the null sender as relays do.
func bounce(t *testing.T, addr, rcpt string, data []byte) {
	t.Helper()
	require.NoError(t, smtp.SendMail(addr, nil, "", []string{rcpt}, data))
}

func TestWarningsToAdmins(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)
	a.ReturnPath = returnPath

	t.Run("a warning reaches the contact and each admin once, the contact's own address as admin is skipped", func(t *testing.T) {
		in, ids := f.warning(t, a, "admins-once", "tresorier@asso.example", "ADMINS-ONCE@asso.example")
		require.Len(t, ids, 2, "the contact and the treasurer")
		again := in
		again.AdminTo = f.sealer.Seal("tresorier@asso.example") // sealed anew: another nonce, the same address
		res, err := f.send(t, a, again)
		require.NoError(t, err)
		assert.True(t, res.AlreadySent, "once per address")
		assert.Equal(t, ids[1], res.MessageID)
		var to []string
		for _, m := range f.smtp.Messages() {
			if m.MessageID == ids[0] || m.MessageID == ids[1] {
				to = append(to, m.To...)
				assert.Contains(t, m.Subject, "admins-once")
			}
		}
		assert.ElementsMatch(t, []string{"admins-once@asso.example", "tresorier@asso.example"}, to)
		assert.Equal(t, mail.DeliveredResult{Accepted: 2, Delivered: 2, AdminsDelivered: 1}, f.delivered(t, a, in))
	})

	t.Run("the envelope sender carries the mail's ID (VERP)", func(t *testing.T) {
		_, ids := f.warning(t, a, "admins-verp")
		got := f.messagesWithID(ids[0])
		require.Len(t, got, 1)
		id, _, _ := strings.Cut(ids[0], "@")
		assert.Equal(t, "retours+"+id+"@jardinier.example", got[0].From)
		token, ok := mail.VERPToken(returnPath, got[0].From)
		assert.True(t, ok)
		assert.Equal(t, id, token)
	})

	t.Run("the deletion a contact asked for is told to an admin as the contact's request", func(t *testing.T) {
		app := f.newApplication(t, "admins-deleted")
		in := mail.SendInput{Slug: "admins-deleted", ApplicationID: app.ID, Kind: mail.KindDeleted, Actor: "contact",
			DeletionAt: submitted, AdminTo: f.sealer.Seal("tresorier@asso.example")}
		res, err := f.send(t, a, in)
		require.NoError(t, err)
		got := f.messagesWithID(res.MessageID)
		require.Len(t, got, 1)
		assert.Equal(t, []string{"tresorier@asso.example"}, got[0].To)
		assert.Contains(t, got[0].Body, "À la demande de la personne qui en est le contact auprès de Jardinier, l'espace « admins-deleted » et toutes ses données ont été supprimés")
		assert.Contains(t, got[0].Body, "parce que vous administriez cet espace")
		assert.NotContains(t, got[0].Body, "Comme vous l'avez demandé")

		in.AdminTo = ""
		res, err = f.send(t, a, in)
		require.NoError(t, err)
		got = f.messagesWithID(res.MessageID)
		require.Len(t, got, 1)
		assert.Contains(t, got[0].Body, "Comme vous l'avez demandé", "the contact's own mail")
		assert.NotContains(t, got[0].Body, "administriez")
	})

	t.Run("an admin's address that cannot be opened is refused for good", func(t *testing.T) {
		app := f.newApplication(t, "admins-forged")
		_, err := f.send(t, a, mail.SendInput{Slug: "admins-forged", ApplicationID: app.ID, Kind: mail.KindFirstWarning,
			LastActivityAt: submitted, NextStepAt: submitted, DeletionAt: submitted, AdminTo: "bm9uLXNjZWxsw6k"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot open the admin's address")
	})
}

func TestBounces(t *testing.T) {
	f := setup(t)
	a := f.activities(t, nil)
	a.ReturnPath = returnPath
	addr := f.bounceServer(t, returnPath)

	t.Run("a hard bounce sent over SMTP to the VERP address marks the mail and the address", func(t *testing.T) {
		in, ids := f.warning(t, a, "bounce-verp", "bureau@asso.example")
		id, _, _ := strings.Cut(ids[0], "@")
		// The report names another Message-ID: the return path is what counts.
		bounce(t, addr, "retours+"+id+"@jardinier.example",
			dsn("autre@ailleurs.example", "bounce-verp@asso.example", "failed", "5.1.1", "550 5.1.1 <bounce-verp@asso.example>: user unknown"))

		var d models.MailDelivery
		require.NoError(t, f.db.Where("message_id = ?", ids[0]).Take(&d).Error)
		require.NotNil(t, d.BouncedAt)
		assert.Equal(t, "550 5.1.1 <[adresse]>: user unknown", d.Diagnostic, "no address kept")
		var b models.Bounce
		require.NoError(t, f.db.Where("address_hash = ?", models.AddressHash("Bounce-Verp@asso.example")).Take(&b).Error)
		assert.Equal(t, "5.1.1", b.Status)
		assert.Equal(t, ids[0], b.MessageID)
		assert.WithinDuration(t, time.Now(), b.BouncedAt, time.Minute)
		assert.Equal(t, mail.DeliveredResult{Accepted: 2, Bounced: 1, Delivered: 1, AdminsDelivered: 1}, f.delivered(t, a, in),
			"the admin's copy still reached someone")

		bounce(t, addr, "retours+"+id+"@jardinier.example",
			dsn(ids[0], "bounce-verp@asso.example", "failed", "5.1.1", "550 user unknown"))
		require.NoError(t, f.db.Where("address_hash = ?", b.AddressHash).Take(&b).Error)
		assert.Equal(t, 1, b.Count, "the same bounce again counts once")
	})

	t.Run("without VERP the Message-ID of the returned headers finds the mail", func(t *testing.T) {
		plain := f.activities(t, nil)
		in, ids := f.warning(t, plain, "bounce-msgid")
		bounce(t, addr, "retours@jardinier.example", dsn(ids[0], "bounce-msgid@asso.example", "failed", "5.2.2", "552 mailbox full"))
		assert.Equal(t, mail.DeliveredResult{Accepted: 1, Bounced: 1}, f.delivered(t, plain, in), "nobody was reached")
	})

	t.Run("a delay, a 4.x.x failure or an out-of-office reply marks nothing", func(t *testing.T) {
		in, ids := f.warning(t, a, "bounce-soft")
		id, _, _ := strings.Cut(ids[0], "@")
		rcpt := "retours+" + id + "@jardinier.example"
		bounce(t, addr, rcpt, dsn(ids[0], "bounce-soft@asso.example", "delayed", "4.4.7", "451 try later"))
		bounce(t, addr, rcpt, dsn(ids[0], "bounce-soft@asso.example", "failed", "4.2.2", "452 mailbox full"))
		bounce(t, addr, rcpt, []byte("From: bounce-soft@asso.example\r\nSubject: Absent\r\n\r\nJe suis en congé.\r\n"))
		assert.Equal(t, mail.DeliveredResult{Accepted: 1, Delivered: 1}, f.delivered(t, a, in))
		var n int64
		require.NoError(t, f.db.Model(&models.Bounce{}).Where("address_hash = ?", models.AddressHash("bounce-soft@asso.example")).Count(&n).Error)
		assert.Zero(t, n)
	})

	t.Run("a warning sent before deliveries were recorded counts as delivered", func(t *testing.T) {
		in, ids := f.warning(t, a, "bounce-legacy")
		require.NoError(t, f.db.Where("message_id = ?", ids[0]).Delete(&models.MailDelivery{}).Error)
		assert.Equal(t, mail.DeliveredResult{Accepted: 1, Delivered: 1}, f.delivered(t, a, in))
		require.NoError(t, f.db.Model(&models.SentMail{}).Where("key = ?", in.Key()).Update("sent", false).Error)
		assert.Equal(t, mail.DeliveredResult{}, f.delivered(t, a, in), "a mail never accepted reached nobody")
	})

	t.Run("the server takes mail for the return paths only", func(t *testing.T) {
		err := smtp.SendMail(addr, nil, "", []string{"quelquun@ailleurs.example"}, dsn("x@y", "a@b.example", "failed", "5.1.1", "550"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "550")
	})
}

func TestParseDSN(t *testing.T) {
	t.Run("the fields of RFC 3464 and the returned Message-ID", func(t *testing.T) {
		d, err := mail.ParseDSN(dsn("abc@jardinier.example", "x@asso.example", "failed", "5.1.1", "550 5.1.1 unknown"))
		require.NoError(t, err)
		assert.Equal(t, "abc@jardinier.example", d.MessageID)
		require.Len(t, d.Recipients, 1)
		r := d.Recipients[0]
		assert.Equal(t, mail.DSNRecipient{FinalRecipient: "x@asso.example", Action: "failed", Status: "5.1.1",
			Diagnostic: "550 5.1.1 unknown"}, r)
		assert.True(t, r.Hard())
	})
	t.Run("a message that is no report is told apart", func(t *testing.T) {
		_, err := mail.ParseDSN([]byte("From: a@b\r\nSubject: Re: avertissement\r\n\r\nMerci.\r\n"))
		assert.ErrorIs(t, err, mail.ErrNotDSN)
	})
}
