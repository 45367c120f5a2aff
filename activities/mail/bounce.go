package mail

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jardinier/models"
)

// recipient returns the key of the mail and, for a mail to an admin (in.AdminTo), the
// address it goes to. The key of an admin's mail is the contact's followed by the
// address's hash, so that each address gets the mail once; it is "" when the address
// is the contact's, who gets the contact's mail.
func (a *Activities) recipient(ctx context.Context, in SendInput) (key, to string, err error) {
	if in.AdminTo == "" {
		return in.Key(), "", nil
	}
	if a.Sealer == nil {
		return "", "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: no key to open the admin's address", in.Kind, in.Slug), ErrTypeSecret, nil)
	}
	to, err = a.Sealer.Open(in.AdminTo)
	if err != nil {
		return "", "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("mail %s of %q: cannot open the admin's address (sealed with another SECRET_KEY?)", in.Kind, in.Slug),
			ErrTypeSecret, nil)
	}
	app, found, err := a.application(ctx, in.ApplicationID)
	if err != nil {
		return "", "", err
	}
	if found && strings.EqualFold(strings.TrimSpace(app.ContactEmail), strings.TrimSpace(to)) {
		return "", "", nil
	}
	return in.Key() + "/admin/" + models.AddressHash(to)[:16], to, nil
}

// markSent records that the server accepted the mail: its sent_mails row, and the
// delivery a bounce may later mark, in one transaction, tried again as retryRecord says.
func (a *Activities) markSent(ctx context.Context, key string, in SendInput, msg Message) error {
	return retryRecord(ctx, func(ctx context.Context) error { return a.recordSent(ctx, key, in, msg) })
}

func (a *Activities) recordSent(ctx context.Context, key string, in SendInput, msg Message) error {
	now := time.Now().UTC()
	return a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&models.SentMail{}).Where("key = ?", key).
			Updates(map[string]any{"sent": true, "sent_at": now}).Error; err != nil {
			return err
		}
		if toModerators(in.Kind) {
			return nil
		}
		d := models.MailDelivery{MessageID: msg.MessageID, Key: key, Slug: in.Slug, ApplicationID: in.ApplicationID,
			Kind: string(in.Kind), Seq: in.Seq, RecipientHash: models.AddressHash(msg.To), Admin: in.AdminTo != "", AcceptedAt: now}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&d).Error
	})
}

// returnPath is the envelope sender of the mail messageID: ReturnPath with the
// mail's ID after a "+" (VERP), or "" without ReturnPath.
func (a *Activities) returnPath(messageID string) string {
	local, domain, ok := strings.Cut(a.ReturnPath, "@")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(messageID, "@")
	return local + "+" + id + "@" + domain
}

// VERPToken returns the ID part of the Message-ID of the mail a bounce was sent back
// for, read from the address the bounce was sent to (see returnPath) given
// MAIL_RETURN_PATH; ok is false if the address is not one of the return paths.
func VERPToken(returnPath, rcpt string) (token string, ok bool) {
	local, domain, found := strings.Cut(returnPath, "@")
	rl, rd, rfound := strings.Cut(strings.Trim(rcpt, "<> "), "@")
	if !found || !rfound || !strings.EqualFold(domain, rd) {
		return "", false
	}
	token, ok = strings.CutPrefix(strings.ToLower(rl), strings.ToLower(local)+"+")
	if !ok || len(token) != 32 || strings.Trim(token, "0123456789abcdef") != "" {
		return "", false
	}
	return token, true
}

// MailRef names the mails of one kind and sequence number of a space.
type MailRef struct {
	Kind Kind
	Seq  int
}

// DeliveredInput asks whether the mails of a space named by Mails reached someone.
type DeliveredInput struct {
	Slug          string
	ApplicationID string
	Mails         []MailRef
}

// DeliveredResult counts the mails of DeliveredInput, one per recipient: Accepted by
// the relay, of which Bounced came back as hard bounces; Delivered are the others,
// AdminsDelivered those of them sent to the space's admins.
type DeliveredResult struct {
	Accepted        int
	Bounced         int
	Delivered       int
	AdminsDelivered int
}

// Delivered counts which of the space's mails reached someone: accepted by the relay
// and not hard-bounced since. A mail sent before deliveries were recorded counts as
// delivered, so that the countdowns under way when they started are not all held. It
// reads the database only.
func (a *Activities) Delivered(ctx context.Context, in DeliveredInput) (DeliveredResult, error) {
	var res DeliveredResult
	if len(in.Mails) == 0 {
		return res, nil
	}
	q := a.DB.WithContext(ctx).Model(&models.MailDelivery{}).Where("slug = ? AND application_id = ?", in.Slug, in.ApplicationID)
	or := a.DB.Where("1 = 0")
	for _, m := range in.Mails {
		or = or.Or("kind = ? AND seq = ?", string(m.Kind), m.Seq)
	}
	var rows []models.MailDelivery
	if err := q.Where(or).Select("admin", "bounced_at").Find(&rows).Error; err != nil {
		return res, fmt.Errorf("deliveries of %q: %w", in.Slug, err)
	}
	// Mails sent before deliveries were recorded have a sent row and no delivery: the
	// relay accepted them, and no bounce can be told apart for them.
	keys := make([]string, 0, len(in.Mails))
	for _, m := range in.Mails {
		keys = append(keys, SendInput{Slug: in.Slug, ApplicationID: in.ApplicationID, Kind: m.Kind, Seq: m.Seq}.Key())
	}
	var legacy int64
	if err := a.DB.WithContext(ctx).Model(&models.SentMail{}).Where("key IN ? AND sent", keys).
		Where("NOT EXISTS (SELECT 1 FROM mail_deliveries d WHERE d.key = sent_mails.key)").Count(&legacy).Error; err != nil {
		return res, fmt.Errorf("mails of %q sent before deliveries were recorded: %w", in.Slug, err)
	}
	res.Accepted, res.Delivered = int(legacy), int(legacy)
	for _, d := range rows {
		res.Accepted++
		switch {
		case d.BouncedAt != nil:
			res.Bounced++
		case d.Admin:
			res.Delivered++
			res.AdminsDelivered++
		default:
			res.Delivered++
		}
	}
	return res, nil
}
