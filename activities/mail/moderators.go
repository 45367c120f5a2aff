package mail

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
)

// The mails to moderators about their own account, and their daily digest.
const (
	KindModeratorInvitation Kind = "moderator_invitation" // to a new moderator: choose a password
	KindModeratorReset      Kind = "moderator_reset"      // to a moderator: choose a new password
	KindModeratorDigest     Kind = "moderator_digest"     // to the moderators: what waits for them
)

// digestListLimit bounds each list of a digest; the counts stay exact.
const digestListLimit = 50

// ModeratorMailInput asks for the mail of one link to a moderator. It holds the link's
// ID only: the address is read from the database and the token is signed here, so that
// neither sits in workflow history.
type ModeratorMailInput struct {
	Kind   Kind // KindModeratorInvitation or KindModeratorReset
	LinkID string
}

// DigestInput asks for the digest of one day. Since is the start of the period whose
// new applications and failures it reports.
type DigestInput struct {
	Now   time.Time
	Since time.Time
}

// DigestResult says what the digest held; Sent is false when there was nothing to say.
type DigestResult struct {
	Sent        bool
	AlreadySent bool
	New         int
	Waiting     int
	Failures    int
	Held        int // spaces whose policy step waits: no warning reached anyone
}

// Digest is what the daily digest mail shows.
type Digest struct {
	New      []DigestItem
	Overdue  []DigestItem
	Failures []DigestItem
	// Held are the spaces whose deactivation or deletion waits for the moderators, as
	// no warning of the countdown reached anyone; Note is the step held.
	Held []DigestItem
	// WaitingTotal counts every application waiting for a decision.
	WaitingTotal int64
}

// DigestItem is one line of the digest, with the console screen it leads to.
type DigestItem struct {
	Title string
	Date  time.Time
	Note  string
	URL   string
}

// consoleURL is the address of a console screen in mails; the console asks to sign in
// first if needed, then opens it.
func (a *Activities) consoleURL(path string) string {
	return strings.TrimRight(a.PublicURL, "/") + "/moderation" + path
}

// SendModeratorMail sends the mail of an invitation or password reset link, once per
// link however often it is retried.
func (a *Activities) SendModeratorMail(ctx context.Context, in ModeratorMailInput) (SendResult, error) {
	if in.Kind != KindModeratorInvitation && in.Kind != KindModeratorReset {
		return SendResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("not a moderator link mail: %q", in.Kind), ErrTypeTemplate, nil)
	}
	if a.Signer == nil {
		return SendResult{}, temporal.NewNonRetryableApplicationError("moderator mail: no key to sign its link", ErrTypeTemplate, nil)
	}
	var link models.ModeratorLink
	err := a.DB.WithContext(ctx).Where("id = ?", in.LinkID).Take(&link).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return SendResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("moderator link %s not found", in.LinkID), ErrTypeNoRecipient, nil)
	} else if err != nil {
		return SendResult{}, fmt.Errorf("load moderator link %s: %w", in.LinkID, err)
	}
	var m models.Moderator
	if err := a.DB.WithContext(ctx).Where("id = ?", link.ModeratorID).Take(&m).Error; err != nil {
		return SendResult{}, fmt.Errorf("load moderator %d: %w", link.ModeratorID, err)
	}
	if m.EmailAddress() == "" {
		return SendResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("moderator %d has no address", m.ID), ErrTypeNoRecipient, nil)
	}
	key := fmt.Sprintf("moderator/%s/%s", in.Kind, in.LinkID)
	return a.sendOnce(ctx, key, in.Kind, func() (Message, error) {
		data := Data{ServiceName: ServiceName, PublicURL: a.PublicURL, ModeratorName: m.Name, Role: string(m.Role),
			// Whoever holds the token may choose the password: it is built here and
			// never logged.
			Link:           a.consoleURL("/mot-de-passe?" + url.Values{"jeton": {a.Signer.ModeratorLinkToken(link.ID)}}.Encode()),
			LinkExpiryDate: link.ExpiresAt, ConsoleURL: a.consoleURL("/")}
		return a.render(in.Kind, m.EmailAddress(), data)
	})
}

// SendDigest sends the moderators the digest of a day: the applications submitted since
// in.Since, those waiting more than LongWaitDays, and what failed. Nothing is sent when
// all three are empty; it is sent once per day (in Paris) however often it is retried.
func (a *Activities) SendDigest(ctx context.Context, in DigestInput) (DigestResult, error) {
	var d Digest
	fresh, err := models.NewApplications(ctx, a.DB, in.Since, digestListLimit)
	if err != nil {
		return DigestResult{}, err
	}
	for _, w := range fresh {
		d.New = append(d.New, a.applicationItem(w))
	}
	waiting, total, err := models.WaitingApplications(ctx, a.DB, 1000)
	if err != nil {
		return DigestResult{}, err
	}
	d.WaitingTotal = total
	for _, w := range waiting {
		if w.Overdue(in.Now) && len(d.Overdue) < digestListLimit {
			d.Overdue = append(d.Overdue, a.applicationItem(w))
		}
	}
	failures, err := models.Failures(ctx, a.DB, in.Since, digestListLimit)
	if err != nil {
		return DigestResult{}, err
	}
	for _, f := range failures {
		d.Failures = append(d.Failures, DigestItem{Title: f.Slug, Date: f.At, Note: failureNote(f),
			URL: a.consoleURL("/espaces/" + url.PathEscape(f.Slug))})
	}
	held, _, err := models.HeldSpaces(ctx, a.DB, digestListLimit)
	if err != nil {
		return DigestResult{}, err
	}
	for _, h := range held {
		d.Held = append(d.Held, DigestItem{Title: h.Slug, Date: h.Since, Note: string(h.Step),
			URL: a.consoleURL("/espaces/" + url.PathEscape(h.Slug))})
	}
	res := DigestResult{New: len(d.New), Waiting: len(d.Overdue), Failures: len(d.Failures), Held: len(d.Held)}
	if res.New+res.Waiting+res.Failures+res.Held == 0 {
		activity.GetLogger(ctx).Info("Nothing to say in the moderators' digest")
		return res, nil
	}
	key := "digest/" + in.Now.In(models.Paris).Format(time.DateOnly)
	sent, err := a.sendOnce(ctx, key, KindModeratorDigest, func() (Message, error) {
		return a.render(KindModeratorDigest, a.ModeratorsEmail, Data{ServiceName: ServiceName, PublicURL: a.PublicURL,
			Date: in.Now, ConsoleURL: a.consoleURL("/"), Digest: d, LongWaitDays: models.LongWaitDays})
	})
	if err != nil {
		return res, err
	}
	res.Sent, res.AlreadySent = true, sent.AlreadySent
	return res, nil
}

func (a *Activities) applicationItem(w models.WaitingApplication) DigestItem {
	return DigestItem{Title: w.OrganizationName + " (" + w.Slug + ")", Date: w.SubmittedAt,
		URL: a.consoleURL("/demandes/" + w.ID)}
}

func failureNote(f models.Failure) string {
	switch f.Kind {
	case models.FailureProvisioning:
		return "création échouée et annulée"
	case models.FailureUpgrade:
		return "mise à niveau échouée, retour à la version précédente"
	}
	return f.Kind
}

// render writes a mail to one address.
func (a *Activities) render(kind Kind, to string, data Data) (Message, error) {
	subject, body, err := a.Templates.Render(kind, data)
	if err != nil {
		return Message{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("mail %s: %v", kind, err), ErrTypeTemplate, nil)
	}
	return Message{From: a.From, To: to, Subject: subject, Body: body}, nil
}

// sendOnce sends the mail compose writes, once per key however often it is retried, as
// Send does (see there for the one window that cannot be closed).
func (a *Activities) sendOnce(ctx context.Context, key string, kind Kind, compose func() (Message, error)) (SendResult, error) {
	logger := log.With(activity.GetLogger(ctx), "kind", kind, "key", key)
	row, err := a.reserve(ctx, key, SendInput{Kind: kind})
	if err != nil {
		return SendResult{}, err
	}
	if row.Sent {
		logger.Info("Mail already sent", "message_id", row.MessageID)
		return SendResult{MessageID: row.MessageID, AlreadySent: true}, nil
	}
	msg, err := compose()
	if err != nil {
		return SendResult{}, err
	}
	msg.MessageID, msg.Date = row.MessageID, time.Now()
	if err := a.Sender.Send(ctx, msg); err != nil {
		logger.Warn("Mail not sent", "message_id", row.MessageID, "error", err)
		if errors.Is(err, ErrRefused) {
			return SendResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("send mail %s: %v", key, err), ErrTypeRefused, nil)
		}
		return SendResult{}, fmt.Errorf("send mail %s: %w", key, err)
	}
	if err := a.markSentRow(ctx, key); err != nil {
		logger.Error("Mail sent but not recorded as sent", "message_id", row.MessageID, "error", err)
		return SendResult{}, fmt.Errorf("record mail %s as sent: %w", key, err)
	}
	logger.Info("Mail sent", "message_id", row.MessageID)
	return SendResult{MessageID: row.MessageID}, nil
}
