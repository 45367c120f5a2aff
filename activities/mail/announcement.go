package mail

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// KindAnnouncement is the operator's message to the people of the spaces (a survey, a
// coming upgrade, a security incident), sent by an announcement's workflow.
const KindAnnouncement Kind = "announcement"

// AnnouncementMailInput asks for the mail of one recipient of an announcement. It
// holds the recipient's number only: the address is read from the database, so that
// it never sits in workflow history.
type AnnouncementMailInput struct {
	AnnouncementID string
	Seq            int // from 1
}

// AnnouncementKey identifies the mail of one recipient of an announcement for
// exactly-once delivery.
func AnnouncementKey(id string, seq int) string {
	return "announcement/" + id + "/" + strconv.Itoa(seq)
}

// SendAnnouncement sends an announcement to one of its recipients, once per recipient
// however often it is retried (as Send: see there for the one window that cannot be
// closed). A recipient the mail server refuses for good is marked failed.
func (a *Activities) SendAnnouncement(ctx context.Context, in AnnouncementMailInput) (SendResult, error) {
	r, found, err := models.Recipient(ctx, a.DB, in.AnnouncementID, in.Seq)
	if err != nil {
		return SendResult{}, err
	} else if !found {
		return SendResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("announcement %s has no recipient %d", in.AnnouncementID, in.Seq), ErrTypeNoRecipient, nil)
	}
	ann, err := models.FindAnnouncement(ctx, a.DB, in.AnnouncementID)
	if err != nil {
		var e *models.Error
		if errors.As(err, &e) {
			return SendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNoRecipient, nil)
		}
		return SendResult{}, err
	}
	key := AnnouncementKey(in.AnnouncementID, in.Seq)
	res, err := a.sendOnce(ctx, key, KindAnnouncement, func() (Message, error) {
		return a.render(KindAnnouncement, r.Address, Data{ServiceName: ServiceName, PublicURL: a.PublicURL,
			Slug: r.Slug, SpaceURL: "https://" + r.Slug + "." + a.BaseDomain,
			AnnouncementSubject: ann.Subject, AnnouncementText: ann.Body,
			AnnouncementToAdmins: ann.Audience == models.AudienceAdmins})
	})
	status := models.RecipientSent
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeRefused {
		status = models.RecipientFailed
	} else if err != nil {
		return res, err
	}
	// The row says what became of the recipient for the screens; the mail's own record
	// (sent_mails) is what keeps it from going twice.
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markSentTimeout)
	defer cancel()
	if merr := models.MarkRecipient(markCtx, a.DB, in.AnnouncementID, in.Seq, status); merr != nil {
		activity.GetLogger(ctx).Warn("Announcement recipient not marked", "announcement", in.AnnouncementID, "seq", in.Seq, "error", merr)
	}
	return res, err
}

// PrepareAnnouncementInput fixes the recipients of an announcement.
type PrepareAnnouncementInput struct {
	AnnouncementID string
	Now            time.Time
}

// PrepareAnnouncementResult is how many people the announcement goes to.
type PrepareAnnouncementResult struct {
	Total int
}

// PrepareAnnouncement fixes the recipients of an announcement, once: one per address,
// numbered from 1 (models.PrepareRecipients).
func (a *Activities) PrepareAnnouncement(ctx context.Context, in PrepareAnnouncementInput) (PrepareAnnouncementResult, error) {
	total, err := models.PrepareRecipients(ctx, a.DB, in.AnnouncementID, in.Now)
	if err != nil {
		var e *models.Error
		if errors.As(err, &e) {
			return PrepareAnnouncementResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNoRecipient, nil)
		}
		return PrepareAnnouncementResult{}, err
	}
	return PrepareAnnouncementResult{Total: total}, nil
}

// RecordAnnouncementInput is the announcement's progress, for the screens.
type RecordAnnouncementInput struct {
	AnnouncementID string
	Progress       models.AnnouncementProgress
	Now            time.Time
}

// RecordAnnouncement writes an announcement's progress to its row; at its end it
// deletes the recipients' addresses (models.RecordAnnouncementProgress).
func (a *Activities) RecordAnnouncement(ctx context.Context, in RecordAnnouncementInput) error {
	return models.RecordAnnouncementProgress(ctx, a.DB, in.AnnouncementID, in.Progress, in.Now)
}

// retryRecord runs record, the recording of a delivered mail, trying again for up to
// markSentTimeout: a failure here sends the mail a second time on the next attempt, so
// a database that refuses a connection for a moment (too many clients, a failover)
// must not end the activity. The timeout runs even if the activity was cancelled
// meanwhile, and stays short enough that the SMTP phases and it end within a mail's
// start-to-close timeout.
func retryRecord(ctx context.Context, record func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markSentTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		err := record(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// markSentRow records a delivered mail that no bounce is followed for (moderators'
// mails), as retryRecord says.
func (a *Activities) markSentRow(ctx context.Context, key string) error {
	return retryRecord(ctx, func(ctx context.Context) error {
		return a.DB.WithContext(ctx).Model(&models.SentMail{}).Where("key = ?", key).
			Updates(map[string]any{"sent": true, "sent_at": time.Now().UTC()}).Error
	})
}
