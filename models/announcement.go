package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AnnouncementStatus is where an announcement stands: written, being sent, paused,
// cancelled or sent to everyone.
type AnnouncementStatus string

// The statuses of an announcement.
const (
	AnnouncementDraft     AnnouncementStatus = "draft"     // written, not sent; its audience may still change
	AnnouncementSending   AnnouncementStatus = "sending"   // its workflow sends it
	AnnouncementPaused    AnnouncementStatus = "paused"    // no new mail leaves until it resumes
	AnnouncementCancelled AnnouncementStatus = "cancelled" // stopped for good; those not reached yet never will be
	AnnouncementDone      AnnouncementStatus = "done"      // every recipient was tried
)

// Audience says whom an announcement goes to.
type Audience string

// The audiences of an announcement.
const (
	// AudienceContacts: the contact of every space in service or deactivated.
	AudienceContacts Audience = "contacts"
	// AudienceAdmins: the Nextcloud admins of every space in service or deactivated,
	// as the driver reads them; an AnnouncementFilter, if any, narrows the spaces.
	AudienceAdmins Audience = "admins"
	// AudienceFilter: the contacts of the spaces that match AudienceFilter.
	AudienceFilter Audience = "filter"
)

// Audiences lists every audience, for forms and validation.
var Audiences = []Audience{AudienceContacts, AudienceAdmins, AudienceFilter}

// AnnouncedStatuses are the statuses of the spaces an announcement may reach: those
// that exist. Applicants still waiting and spaces gone are not written to.
var AnnouncedStatuses = []Status{StatusActive, StatusDeactivated}

// Bounds of an announcement's text.
const (
	MaxAnnouncementSubject = 200
	MaxAnnouncementBody    = 20_000
	maxFilterValues        = 50
)

// AnnouncementFilter narrows the spaces whose contacts (AudienceFilter) or admins
// (AudienceAdmins) an announcement reaches; an empty list does not narrow.
type AnnouncementFilter struct {
	Statuses     []Status      `json:"statuses,omitempty"`      // among AnnouncedStatuses
	Versions     []string      `json:"versions,omitempty"`      // a major ("31") or a full version ("31.0.9")
	OfficeSuites []OfficeSuite `json:"office_suites,omitempty"` // collabora, onlyoffice, none
}

// Empty reports whether the filter narrows nothing.
func (f AnnouncementFilter) Empty() bool {
	return len(f.Statuses) == 0 && len(f.Versions) == 0 && len(f.OfficeSuites) == 0
}

// Announcement is a message from the operator to the people of the spaces: a survey, a
// coming upgrade, a security incident. Its workflow (announcement/<id>) sends it; this
// row is what lists and screens read.
type Announcement struct {
	ID        string             `gorm:"primaryKey;type:uuid"`
	Subject   string             `gorm:"not null"`
	Body      string             `gorm:"not null"`
	Audience  Audience           `gorm:"not null"`
	Filter    AnnouncementFilter `gorm:"serializer:json;not null"`
	Status    AnnouncementStatus `gorm:"not null;index"`
	CreatedBy string             `gorm:"not null"`
	// Counts, kept up to date by the workflow: Total once its recipients are fixed.
	Total  int `gorm:"not null;default:0"`
	Sent   int `gorm:"not null;default:0"`
	Failed int `gorm:"not null;default:0"`
	// UnreadSpaces: for the admins' audience, the spaces whose instance could not be
	// read when the recipients were fixed; their admins do not get the announcement.
	UnreadSpaces int `gorm:"not null;default:0"`
	PreparedAt   *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	CreatedAt    time.Time `gorm:"not null;index"`
	UpdatedAt    time.Time
}

// AnnouncementRecipient is one person an announcement goes to, numbered from 1 in
// the order of their address: the workflow knows only the numbers, so that no address
// sits in its history. One row per address (lower case), however many spaces it is the
// contact of. The rows go once the announcement is over.
type AnnouncementRecipient struct {
	ID             uint   `gorm:"primaryKey"`
	AnnouncementID string `gorm:"type:uuid;not null;uniqueIndex:idx_announcement_seq,priority:1;uniqueIndex:idx_announcement_address,priority:1"`
	Seq            int    `gorm:"not null;uniqueIndex:idx_announcement_seq,priority:2"`
	Address        string `gorm:"not null;uniqueIndex:idx_announcement_address,priority:2"`
	Slug           string `gorm:"not null"` // one space it is the contact of, named in the mail
	Status         string `gorm:"not null;default:pending"`
}

// The statuses of a recipient.
const (
	RecipientPending = "pending"
	RecipientSent    = "sent"
	RecipientFailed  = "failed" // refused for good by the mail server
)

// NewAnnouncement checks an announcement written by author and returns it as a draft.
func NewAnnouncement(subject, body string, audience Audience, filter AnnouncementFilter, author string) (Announcement, error) {
	a := Announcement{ID: uuid.NewString(), Subject: strings.TrimSpace(subject), Body: strings.TrimSpace(body),
		Audience: audience, Filter: filter, Status: AnnouncementDraft, CreatedBy: author}
	if a.Audience == "" {
		a.Audience = AudienceContacts
	}
	return a, a.Validate()
}

// Validate checks the announcement's fields, naming the first one at fault.
func (a Announcement) Validate() error {
	switch {
	case a.Subject == "":
		return FieldError("subject", "est obligatoire")
	case utf8.RuneCountInString(a.Subject) > MaxAnnouncementSubject:
		return FieldError("subject", "au plus %d caractères", MaxAnnouncementSubject)
	case strings.ContainsAny(a.Subject, "\r\n"):
		return FieldError("subject", "tient sur une ligne")
	case a.Body == "":
		return FieldError("body", "est obligatoire")
	case utf8.RuneCountInString(a.Body) > MaxAnnouncementBody:
		return FieldError("body", "au plus %d caractères", MaxAnnouncementBody)
	case !utf8.ValidString(a.Subject) || !utf8.ValidString(a.Body):
		return FieldError("body", "contient des caractères invalides")
	}
	return ValidateAudience(a.Audience, a.Filter)
}

// ValidateAudience checks an audience and its filter, naming the field at fault.
func ValidateAudience(audience Audience, f AnnouncementFilter) error {
	switch {
	case !slices.Contains(Audiences, audience):
		return FieldError("audience", "inconnue %q : contacts, admins ou filter", audience)
	case audience == AudienceFilter && f.Empty():
		return FieldError("filter", "choisissez au moins un état, une version ou une suite bureautique")
	case audience == AudienceContacts && !f.Empty():
		return FieldError("filter", "ne vaut que pour les publics « filter » et « admins »")
	}
	if len(f.Statuses) > maxFilterValues || len(f.Versions) > maxFilterValues || len(f.OfficeSuites) > maxFilterValues {
		return FieldError("filter", "au plus %d valeurs par critère", maxFilterValues)
	}
	for _, s := range f.Statuses {
		if !slices.Contains(AnnouncedStatuses, s) {
			return FieldError("status", "état %q : en service (active) ou désactivé (deactivated)", s)
		}
	}
	for _, v := range f.Versions {
		if !versionPattern(v) {
			return FieldError("version", "version %q : une majeure (31) ou une version complète (31.0.9)", v)
		}
	}
	for _, o := range f.OfficeSuites {
		if !slices.Contains(OfficeSuites, o) {
			return FieldError("office", "suite %q : collabora, onlyoffice ou none", o)
		}
	}
	return nil
}

// versionPattern accepts "31" or "31.0.9": digits separated by dots, at most three parts.
func versionPattern(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) > 3 || v == "" {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 6 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// audienceRows selects the (address, slug) of every contact the audience reaches, one
// row per space: lower-cased, trimmed addresses, to be grouped by address. The admins'
// addresses are not in the database: AddAdminRecipients writes them.
func audienceRows(db *gorm.DB, audience Audience, f AnnouncementFilter) (*gorm.DB, error) {
	q := db.Table("spaces").Joins("JOIN applications ON applications.id = spaces.application_id").
		Select("lower(trim(applications.contact_email)) AS address, spaces.slug AS slug").
		Where("applications.contact_email <> ''")
	return filterSpaces(db, q, f), nil
}

// filterSpaces narrows a query of the spaces table to those an announcement may
// reach that match f.
func filterSpaces(db *gorm.DB, q *gorm.DB, f AnnouncementFilter) *gorm.DB {
	statuses := AnnouncedStatuses
	if len(f.Statuses) > 0 {
		statuses = f.Statuses
	}
	q = q.Where("spaces.status IN ?", statuses)
	if len(f.OfficeSuites) > 0 {
		q = q.Where("spaces.office_suite IN ?", f.OfficeSuites)
	}
	if len(f.Versions) > 0 {
		or := db.Where("1 = 0")
		for _, v := range f.Versions {
			if strings.Count(v, ".") == 2 {
				or = or.Or("spaces.nextcloud_version = ?", v)
			} else {
				or = or.Or("spaces.nextcloud_version = ? OR spaces.nextcloud_version LIKE ?", v, v+".%")
			}
		}
		q = q.Where(or)
	}
	return q
}

// CountAudience returns how many people an audience reaches now: distinct addresses.
// For the admins, whose addresses only the instances know, it is the number of spaces
// whose admins will be read when the announcement is sent: every space has at least
// its first admin, and the exact number of people is known once the recipients are
// fixed (Announcement.Total).
func CountAudience(ctx context.Context, db *gorm.DB, audience Audience, f AnnouncementFilter) (int64, error) {
	if audience == AudienceAdmins {
		var n int64
		if err := filterSpaces(db, db.WithContext(ctx).Table("spaces"), f).Count(&n).Error; err != nil {
			return 0, fmt.Errorf("count spaces of the admins' audience: %w", err)
		}
		return n, nil
	}
	rows, err := audienceRows(db.WithContext(ctx), audience, f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := db.WithContext(ctx).Table("(?) AS audience", rows).Distinct("address").Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count audience: %w", err)
	}
	return n, nil
}

// CreateAnnouncement stores a draft.
func CreateAnnouncement(ctx context.Context, db *gorm.DB, a *Announcement) error {
	if err := db.WithContext(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("create announcement: %w", err)
	}
	return nil
}

// FindAnnouncement returns one announcement; ENOTFOUND if there is none by that ID.
func FindAnnouncement(ctx context.Context, db *gorm.DB, id string) (Announcement, error) {
	var a Announcement
	if uuid.Validate(id) != nil {
		return a, Errorf(ENOTFOUND, "annonce %q introuvable", id)
	}
	err := db.WithContext(ctx).Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, Errorf(ENOTFOUND, "annonce %q introuvable", id)
	} else if err != nil {
		return a, fmt.Errorf("load announcement %s: %w", id, err)
	}
	return a, nil
}

// ListAnnouncements returns a page of announcements, newest first, and their total.
func ListAnnouncements(ctx context.Context, db *gorm.DB, offset, limit int) ([]Announcement, int64, error) {
	var total int64
	q := db.WithContext(ctx).Model(&Announcement{})
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count announcements: %w", err)
	}
	var out []Announcement
	if err := q.Order("created_at DESC, id").Offset(offset).Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list announcements: %w", err)
	}
	return out, total, nil
}

// PrepareRecipients fixes the recipients of an announcement, once: the people its
// audience reaches at this moment, one per address, numbered from 1. A second call
// (a retried activity) finds them fixed and returns the same total.
func PrepareRecipients(ctx context.Context, db *gorm.DB, id string, now time.Time) (int, error) {
	var total int
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var a Announcement
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&a).Error; err != nil {
			return fmt.Errorf("load announcement %s: %w", id, err)
		}
		if a.PreparedAt != nil {
			total = a.Total
			return nil
		}
		// The admins' rows are written beforehand, from the instances (AddAdminRecipients).
		if a.Audience != AudienceAdmins {
			rows, err := audienceRows(tx, a.Audience, a.Filter)
			if err != nil {
				return err
			}
			grouped := tx.Table("(?) AS audience", rows).Select("address, min(slug) AS slug").Group("address")
			if err := tx.Exec(`INSERT INTO announcement_recipients (announcement_id, seq, address, slug, status)
				SELECT ?, row_number() OVER (ORDER BY address), address, slug, ? FROM (?) AS people`,
				id, RecipientPending, grouped).Error; err != nil {
				return fmt.Errorf("fix recipients of announcement %s: %w", id, err)
			}
		}
		var n int64
		if err := tx.Model(&AnnouncementRecipient{}).Where("announcement_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		total = int(n)
		return tx.Model(&Announcement{}).Where("id = ?", id).Updates(map[string]any{
			"total": total, "prepared_at": now, "started_at": now, "status": AnnouncementSending}).Error
	})
	return total, err
}

// AnnouncedSpaces returns, in slug order, up to limit slugs after the slug after of
// the spaces an announcement may reach that match f: the pages of spaces whose admins
// are read.
func AnnouncedSpaces(ctx context.Context, db *gorm.DB, f AnnouncementFilter, after string, limit int) ([]string, error) {
	var slugs []string
	q := filterSpaces(db, db.WithContext(ctx).Table("spaces"), f).Where("spaces.slug > ?", after)
	if err := q.Order("spaces.slug").Limit(limit).Pluck("spaces.slug", &slugs).Error; err != nil {
		return nil, fmt.Errorf("list announced spaces: %w", err)
	}
	return slugs, nil
}

// AdminAddress is the address of one admin of the space Slug.
type AdminAddress struct {
	Address string `json:"address"`
	Slug    string `json:"slug"`
}

// ErrAnnouncementFixed: the recipients of an announcement are fixed already; no row
// may be added to them.
var ErrAnnouncementFixed = errors.New("announcement recipients already fixed")

// AddAdminRecipients adds the admins read from some spaces to the recipients of an
// announcement that are not fixed yet: one row per address (lower case), whatever
// space it was read from first, numbered after the rows already there. Adding the
// same rows again (a retried activity) adds nothing. It returns how many rows are
// there now, or ErrAnnouncementFixed once PrepareRecipients fixed them.
func AddAdminRecipients(ctx context.Context, db *gorm.DB, id string, rows []AdminAddress) (int, error) {
	var total int64
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The lock makes two attempts of the activity take turns, so that their
		// numbers never clash.
		var a Announcement
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&a).Error; err != nil {
			return fmt.Errorf("load announcement %s: %w", id, err)
		}
		if a.PreparedAt != nil {
			return ErrAnnouncementFixed
		}
		clean := make([]AdminAddress, 0, len(rows))
		for _, r := range rows {
			if addr := strings.ToLower(strings.TrimSpace(r.Address)); addr != "" {
				clean = append(clean, AdminAddress{Address: addr, Slug: r.Slug})
			}
		}
		if len(clean) > 0 {
			js, err := json.Marshal(clean)
			if err != nil {
				return err
			}
			if err := tx.Exec(`INSERT INTO announcement_recipients (announcement_id, seq, address, slug, status)
				SELECT ?, (SELECT coalesce(max(seq), 0) FROM announcement_recipients WHERE announcement_id = ?)
					+ row_number() OVER (ORDER BY address), address, slug, ?
				FROM (SELECT address, min(slug) AS slug FROM jsonb_to_recordset(?::jsonb) AS t(address text, slug text)
					WHERE NOT EXISTS (SELECT 1 FROM announcement_recipients r WHERE r.announcement_id = ? AND r.address = t.address)
					GROUP BY address) AS people`,
				id, id, RecipientPending, string(js), id).Error; err != nil {
				return fmt.Errorf("add admin recipients of announcement %s: %w", id, err)
			}
		}
		return tx.Model(&AnnouncementRecipient{}).Where("announcement_id = ?", id).Count(&total).Error
	})
	return int(total), err
}

// RecordUnreadSpaces records how many spaces' admins could not be read for an
// announcement, for its screen.
func RecordUnreadSpaces(ctx context.Context, db *gorm.DB, id string, unread int) error {
	if err := db.WithContext(ctx).Model(&Announcement{}).Where("id = ?", id).Update("unread_spaces", unread).Error; err != nil {
		return fmt.Errorf("record unread spaces of announcement %s: %w", id, err)
	}
	return nil
}

// Recipient returns recipient seq of an announcement; found is false if there is none
// (the announcement is over and its addresses are gone).
func Recipient(ctx context.Context, db *gorm.DB, id string, seq int) (r AnnouncementRecipient, found bool, err error) {
	err = db.WithContext(ctx).Where("announcement_id = ? AND seq = ?", id, seq).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, false, nil
	} else if err != nil {
		return r, false, fmt.Errorf("load recipient %d of announcement %s: %w", seq, id, err)
	}
	return r, true, nil
}

// MarkRecipient records what became of one recipient.
func MarkRecipient(ctx context.Context, db *gorm.DB, id string, seq int, status string) error {
	if err := db.WithContext(ctx).Model(&AnnouncementRecipient{}).Where("announcement_id = ? AND seq = ?", id, seq).
		Update("status", status).Error; err != nil {
		return fmt.Errorf("mark recipient %d of announcement %s: %w", seq, id, err)
	}
	return nil
}

// AnnouncementProgress is what the workflow records of an announcement as it goes.
type AnnouncementProgress struct {
	Status AnnouncementStatus
	Sent   int
	Failed int
	// Finished: the announcement is over (done or cancelled); its recipients' addresses
	// are deleted with this record.
	Finished bool
}

// RecordAnnouncementProgress writes the workflow's counts and status; at the end it
// deletes the recipients' addresses, which the service no longer needs.
func RecordAnnouncementProgress(ctx context.Context, db *gorm.DB, id string, p AnnouncementProgress, now time.Time) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		set := map[string]any{"status": p.Status, "sent": p.Sent, "failed": p.Failed}
		if p.Finished {
			set["finished_at"] = now
		}
		if err := tx.Model(&Announcement{}).Where("id = ?", id).Updates(set).Error; err != nil {
			return fmt.Errorf("record progress of announcement %s: %w", id, err)
		}
		if p.Finished {
			if err := tx.Where("announcement_id = ?", id).Delete(&AnnouncementRecipient{}).Error; err != nil {
				return fmt.Errorf("delete recipients of announcement %s: %w", id, err)
			}
		}
		return nil
	})
}
