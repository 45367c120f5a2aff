package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jardinier/models"
	"jardinier/models/metrics"
)

// Error types of the mail failures that retrying cannot fix.
const (
	// ErrTypeNoRecipient: the application is gone (purged), nobody is left to write to.
	ErrTypeNoRecipient = "MailNoRecipient"
	// ErrTypeTemplate: the mail cannot be written (no template for its kind, missing
	// data, or the template failed).
	ErrTypeTemplate = "MailTemplate"
	// ErrTypeSecret: the sealed password cannot be opened with this worker's key.
	ErrTypeSecret = "MailSecret"
	// ErrTypeRefused: the mail server refused the mail for good (unknown address...).
	ErrTypeRefused = "MailRefused"
)

// ServiceName is the name the mails are signed with.
const ServiceName = "Jardinier"

// The values of SendInput.Actor that are not a moderator's name, as in the audit trail.
const (
	actorContact = "contact" // the space's contact, through a signed link
	actorSystem  = "system"  // the service itself: the inactivity policy
)

// markSentTimeout bounds recording a delivered mail. It runs even if the activity was
// cancelled meanwhile: once the server has the mail, recording it matters most.
const markSentTimeout = 10 * time.Second

// Activities sends the service's mails. Build it once in the worker and register it.
type Activities struct {
	DB        *gorm.DB          // applications (recipients) and sent mails
	Sender    Sender            // SMTP in production, a directory in development
	Templates *Templates        // the mails' text, in French
	Sealer    *models.Sealer    // opens SendInput.Password
	Signer    *models.Signer    // signs the links of the deactivated, deletion_notice and confirm_* mails
	Metrics   *metrics.Registry // counts mails sent and failed by kind; nil counts nothing

	From            string // MAIL_FROM, "Name <address>"
	ModeratorsEmail string // where KindProvisioningFailed and KindDeletedModerators go
	BaseDomain      string // spaces live at https://<slug>.<BaseDomain>
	PublicURL       string // the service's address, for links in mails
	// ReturnPath is MAIL_RETURN_PATH, "bounces@<domain>": each mail's envelope sender
	// becomes "bounces+<id>@<domain>" (VERP), so that a bounce names its mail. Empty:
	// the envelope sender is From, and bounces are matched by Message-ID alone.
	ReturnPath string
}

// NewSender returns the Sender for the configuration: SMTP when smtpURL is set,
// otherwise .eml files in dir, which is what a development machine wants.
func NewSender(smtpURL, dir string) (Sender, error) {
	if smtpURL != "" {
		return NewSMTPSender(smtpURL)
	}
	return NewDirSender(dir)
}

// Key identifies one mail for exactly-once delivery: "<slug>/<kind>/<seq>/<application
// id>". The application ID is part of it because a slug is freed when an application is
// rejected or its space deleted, and a later application may take it again: its mails
// are new mails, not repeats of the earlier ones.
func (in SendInput) Key() string {
	return fmt.Sprintf("%s/%s/%d/%s", in.Slug, in.Kind, in.Seq, in.ApplicationID)
}

// Send renders and sends one mail, once per Key however often it is retried.
//
// A row of models.SentMail is reserved (Sent=false, with a Message-ID derived from the
// key) and committed before the mail goes out, and marked sent after the server accepted
// it; a retry finding it sent returns AlreadySent without sending. One window cannot be
// closed: if the worker dies, or the database fails, after the server accepted the mail
// but before the row is marked, the next attempt sends it again. It then carries the
// same Message-ID, which mail clients use to show the two copies as one. The same holds
// for two attempts running at once, which only happens if the start-to-close timeout
// fires while the first attempt is still talking to the server: keep that timeout at one
// minute or more (see smtpTimeout).
func (a *Activities) Send(ctx context.Context, in SendInput) (SendResult, error) {
	logger := log.With(activity.GetLogger(ctx), "slug", in.Slug, "kind", in.Kind, "seq", in.Seq)
	if err := a.check(in); err != nil {
		return SendResult{}, err
	}
	key, to, err := a.recipient(ctx, in)
	if err != nil {
		return SendResult{}, err
	} else if key == "" {
		logger.Info("Mail to an admin whose address is the contact's: the contact's mail is the one")
		return SendResult{Skipped: true}, nil
	}
	row, err := a.reserve(ctx, key, in)
	if err != nil {
		return SendResult{}, err
	}
	if row.Sent {
		logger.Info("Mail already sent", "message_id", row.MessageID)
		return SendResult{MessageID: row.MessageID, AlreadySent: true}, nil
	}

	msg, err := a.compose(ctx, in)
	if err != nil {
		return SendResult{}, err
	}
	if to != "" {
		msg.To = to // an admin's copy
	}
	msg.ReturnPath = a.returnPath(row.MessageID)
	msg.MessageID = row.MessageID
	msg.Date = time.Now()
	err = a.Sender.Send(ctx, msg)
	a.Metrics.ObserveMail(string(in.Kind), err)
	if err != nil {
		logger.Warn("Mail not sent", "message_id", row.MessageID, "error", err)
		if errors.Is(err, ErrRefused) {
			return SendResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("send mail %s: %v", key, err), ErrTypeRefused, nil)
		}
		return SendResult{}, fmt.Errorf("send mail %s: %w", key, err)
	}

	if err := a.markSent(ctx, key, in, msg); err != nil {
		// The retry will send it again, with the same Message-ID (see above).
		logger.Error("Mail sent but not recorded as sent", "message_id", row.MessageID, "error", err)
		return SendResult{}, fmt.Errorf("record mail %s as sent: %w", key, err)
	}
	logger.Info("Mail sent", "message_id", row.MessageID)
	return SendResult{MessageID: row.MessageID}, nil
}

// check refuses for good a mail that cannot be written: a kind without template, a
// field its text needs, or the key to sign its link, missing.
func (a *Activities) check(in SendInput) error {
	if !a.Templates.Has(in.Kind) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no mail template for kind %q", in.Kind), ErrTypeTemplate, nil)
	}
	if field := missingField(in); field != "" {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: %s missing", in.Kind, in.Slug, field), ErrTypeTemplate, nil)
	}
	if (in.To != "" || in.NewContact != "") && a.Sealer == nil {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: no key to open its addresses", in.Kind, in.Slug), ErrTypeSecret, nil)
	}
	if _, _, ok := signedLink(in.Kind); ok && a.Signer == nil {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: no key to sign its link", in.Kind, in.Slug), ErrTypeTemplate, nil)
	}
	return nil
}

// missingField names a field of in that its kind of mail needs and that is not set, or
// returns "" if none is missing.
func missingField(in SendInput) string {
	warning := in.Kind == KindFirstWarning || in.Kind == KindSecondWarning
	_, _, hasLink := signedLink(in.Kind)
	switch {
	case in.Kind == KindAccepted && in.AdminUser == "":
		return "AdminUser"
	case in.Kind == KindAccepted && in.Password == "":
		return "Password"
	case warning && in.LastActivityAt.IsZero():
		return "LastActivityAt"
	case warning && in.NextStepAt.IsZero():
		return "NextStepAt"
	case (warning || in.Kind == KindDeactivated || in.Kind == KindDeletionNotice || in.Kind == KindReactivationLink) && in.DeletionAt.IsZero():
		return "DeletionAt"
	case hasLink && in.TokenExpires.IsZero():
		return "TokenExpires"
	case (in.Kind == KindContactChangeNew || in.Kind == KindContactChangedPrevious) && in.To == "":
		return "To"
	case (in.Kind == KindContactChangeCurrent || in.Kind == KindContactChangedPrevious) && in.NewContact == "":
		return "NewContact"
	}
	return ""
}

// signedLink says which signed link a kind of mail carries: the path of the page it
// opens, under PublicURL, and what its token allows. ok is false for kinds without one.
func signedLink(kind Kind) (path string, purpose models.TokenPurpose, ok bool) {
	switch kind {
	case KindDeactivated, KindDeletionNotice, KindReactivationLink:
		return "/reactivate", models.PurposeReactivate, true
	case KindConfirmDeactivation:
		return "/confirm", models.PurposeConfirmDeactivation, true
	case KindConfirmDeletion:
		return "/confirm", models.PurposeConfirmDeletion, true
	case KindContactChangeCurrent:
		return ContactChangePath, models.PurposeContactCurrent, true
	case KindContactChangeNew:
		return ContactChangePath, models.PurposeContactNew, true
	case KindConfirmOffice:
		return "/confirm", models.PurposeConfirmOffice, true
	}
	return "", "", false
}

// followLink says whether a kind of mail carries the link to follow the application
// (and withdraw it); the mail goes out without it when there is no key to sign it.
func followLink(kind Kind) bool { return kind == KindReceipt || kind == KindOnHold }

// toModerators reports whether a kind of mail goes to the moderators rather than to the
// space's contact.
func toModerators(kind Kind) bool {
	return slices.Contains([]Kind{KindProvisioningFailed, KindDeletedModerators}, kind)
}

// spaceLimits puts in data the limits provisioning gave the space, as its row holds
// them: the fleet's defaults of the day, or a moderator's for this space. A row
// without them (written before limits were recorded) leaves the built-in ones.
func (a *Activities) spaceLimits(ctx context.Context, slug string, data *Data) error {
	var sp models.Space
	err := a.DB.WithContext(ctx).Select("max_accounts", "quota_bytes", "max_video_bytes").Where("slug = ?", slug).Take(&sp).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read the limits of %q: %w", slug, err)
	}
	if sp.MaxAccounts > 0 && sp.QuotaBytes > 0 && sp.MaxVideoBytes > 0 {
		l := models.Limits{MaxAccounts: sp.MaxAccounts, QuotaBytes: sp.QuotaBytes, MaxVideoBytes: sp.MaxVideoBytes}
		data.MaxAccounts, data.StorageGB, data.MaxVideoMB = l.MaxAccounts, int(l.QuotaGB()), int(l.MaxVideoMB())
	}
	return nil
}

// reserve returns the row of the mail, inserting it unsent if this is the first attempt.
// ON CONFLICT makes concurrent first attempts share one row and one Message-ID.
func (a *Activities) reserve(ctx context.Context, key string, in SendInput) (models.SentMail, error) {
	var row models.SentMail
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		fresh := models.SentMail{Key: key, Slug: in.Slug, Kind: string(in.Kind), MessageID: a.messageID(key)}
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).
			Create(&fresh).Error; err != nil {
			return err
		}
		return tx.Where("key = ?", key).Take(&row).Error
	})
	if err != nil {
		return models.SentMail{}, fmt.Errorf("reserve mail %s: %w", key, err)
	}
	return row, nil
}

// compose finds the recipient and renders the mail. Only here are the password opened
// and the link signed, and they leave this package only inside the message body.
func (a *Activities) compose(ctx context.Context, in SendInput) (Message, error) {
	app, found, err := a.application(ctx, in.ApplicationID)
	if err != nil {
		return Message{}, err
	} else if !found && !toModerators(in.Kind) {
		// The moderators' mails can do without it: it may be purged along with the space.
		return Message{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: application %q not found", in.Kind, in.Slug, in.ApplicationID),
			ErrTypeNoRecipient, nil)
	}
	to := app.ContactEmail
	if toModerators(in.Kind) {
		to = a.ModeratorsEmail
	}
	publicURL := strings.TrimRight(a.PublicURL, "/")

	data := Data{
		ServiceName:      ServiceName,
		OrganizationName: app.OrganizationName,
		Slug:             in.Slug,
		SpaceURL:         "https://" + in.Slug + "." + a.BaseDomain,
		AdminUser:        in.AdminUser,
		Reason:           in.Reason,
		Detail:           in.Detail,
		OfficeSuite:      string(in.Suite),
		Date:             app.CreatedAt,
		PublicURL:        a.PublicURL,
		MaxAccounts:      models.MaxSpaceAccounts,
		StorageGB:        models.MaxSpaceStorageGB,
		MaxVideoMB:       models.MaxVideoFileMB,
		LastActivityDate: in.LastActivityAt,
		NextStepDate:     in.NextStepAt,
		DeletionDate:     in.DeletionAt,
		DeactivatedURL:   publicURL + "/spaces/" + url.PathEscape(in.Slug) + "/deactivated",
		ReservedDays:     models.SlugReservationDays,
		ConsoleURL:       publicURL + "/moderation/espaces/" + url.PathEscape(in.Slug),
	}
	data.ToAdmin = in.AdminTo != ""
	if in.Kind == KindAccepted {
		if err := a.spaceLimits(ctx, in.Slug, &data); err != nil {
			return Message{}, err
		}
	}
	if in.Kind == KindDeleted && !in.DeletionAt.IsZero() {
		data.BackupsGoneDate = in.DeletionAt.Add(models.BackupDailyRetention)
	}
	switch in.Actor {
	case actorContact:
		data.ByContact = true
	case actorSystem, "":
	default:
		data.Actor = in.Actor
	}
	if path, purpose, ok := signedLink(in.Kind); ok {
		// Whoever holds the token may act on the space: it is built here rather than in
		// the workflow, so that it never sits in its history, and it is never logged.
		// Signing is deterministic, so a retried mail carries the same link.
		token := a.Signer.Sign(models.LinkToken{Slug: in.Slug, Purpose: purpose, Seq: in.TokenSeq, Expires: in.TokenExpires})
		query := url.Values{"token": {token}}
		if in.Suite != "" {
			// What the page shows and sends back; the workflow holds it to the request.
			query.Set("suite", string(in.Suite))
		}
		data.Link = publicURL + path + "?" + query.Encode()
		data.LinkExpiryDate = in.TokenExpires
	}
	if followLink(in.Kind) && a.Signer != nil {
		// Valid for a fixed time from the submission, so that a retried or repeated mail
		// carries the same link.
		expires := app.CreatedAt.Add(models.FollowLinkValidity)
		token := a.Signer.Sign(models.LinkToken{Slug: in.Slug, Purpose: models.PurposeFollow, App: app.ID, Expires: expires})
		data.Link = publicURL + "/suivi?" + url.Values{"token": {token}}.Encode()
		data.LinkExpiryDate = expires
	}
	if in.To != "" {
		if to, err = a.openAddress(in, in.To); err != nil {
			return Message{}, err
		}
	}
	if in.NewContact != "" {
		if data.NewContact, err = a.openAddress(in, in.NewContact); err != nil {
			return Message{}, err
		}
	}
	if in.Password != "" {
		if a.Sealer == nil {
			return Message{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("mail %s of %q: no key to open the password", in.Kind, in.Slug), ErrTypeSecret, nil)
		}
		password, err := a.Sealer.Open(in.Password)
		if err != nil {
			return Message{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("mail %s of %q: cannot open the password (sealed with another SECRET_KEY?)", in.Kind, in.Slug),
				ErrTypeSecret, nil)
		}
		data.Password = password
	}
	subject, body, err := a.Templates.Render(in.Kind, data)
	if err != nil {
		// Template errors name the template and the field at fault, not the data.
		return Message{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: %v", in.Kind, in.Slug, err), ErrTypeTemplate, nil)
	}
	return Message{From: a.From, To: to, Subject: subject, Body: body}, nil
}

// ContactChangePath is the page the links of a change of the contact's address open,
// under PublicURL.
const ContactChangePath = "/espace/contact"

// openAddress opens an address of a change of the contact's (check made sure there is
// a Sealer). The address is never in the error: errors land in history.
func (a *Activities) openAddress(in SendInput, sealed models.Sealed) (string, error) {
	addr, err := a.Sealer.Open(sealed)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: cannot open an address (sealed with another SECRET_KEY?)", in.Kind, in.Slug),
			ErrTypeSecret, nil)
	}
	return addr, nil
}

// application loads what the mails need of an application; found is false if it is gone.
func (a *Activities) application(ctx context.Context, id string) (app models.Application, found bool, err error) {
	if uuid.Validate(id) != nil {
		// No such row can exist, and PostgreSQL would reject the query.
		return app, false, nil
	}
	err = a.DB.WithContext(ctx).Select("id", "organization_name", "contact_email", "created_at").
		Where("id = ?", id).Take(&app).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return app, false, nil
	} else if err != nil {
		return app, false, fmt.Errorf("load application %s: %w", id, err)
	}
	return app, true, nil
}

// messageID derives the Message-ID from the key, so every attempt at one mail uses the
// same: "<32 hex digits>@<domain of From>".
func (a *Activities) messageID(key string) string {
	sum := sha256.Sum256([]byte(key))
	domain := a.BaseDomain
	if addr, err := mail.ParseAddress(a.From); err == nil {
		domain = addr.Address[strings.LastIndex(addr.Address, "@")+1:]
	}
	return hex.EncodeToString(sum[:16]) + "@" + domain
}
