package nextcloud

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
)

// Pace of the reading of the spaces' admins for an announcement.
const (
	// adminsPage is how many spaces are read between two writes of rows: few enough
	// that a retry reads again at most a page.
	adminsPage = 50
	// adminsReadTimeout bounds the reading of one instance's admins (one query of its
	// database): one that hangs is counted unread instead of stopping the others.
	adminsReadTimeout = 30 * time.Second
)

// ErrTypeAnnouncementGone: the announcement whose admins are read does not exist.
const ErrTypeAnnouncementGone = "AnnouncementGone"

// AudienceActivities read from the instances the people an announcement goes to when
// the database does not know them: the spaces' Nextcloud admins. The worker builds one
// with the driver and the service's database.
type AudienceActivities struct {
	Driver Driver
	DB     *gorm.DB
}

// CollectAdminsInput asks for the admins of the spaces an announcement reaches.
type CollectAdminsInput struct{ AnnouncementID string }

// CollectAdminsResult counts what the reading found. It holds no address.
type CollectAdminsResult struct {
	Skipped    bool // the announcement does not go to the admins, or its recipients are fixed already
	Spaces     int  // spaces read
	Unread     int  // spaces whose instance could not be read
	Recipients int  // rows written: distinct addresses
	// UnreadSlugs names the first unread spaces, for the logs.
	UnreadSlugs []string
}

// maxUnreadSlugs bounds CollectAdminsResult.UnreadSlugs, which sits in history.
const maxUnreadSlugs = 20

// adminsProgress is the heartbeat of CollectAnnouncementAdmins: a retry resumes after
// the last page written, with the counts so far.
type adminsProgress struct {
	After  string // the last slug of the last page written
	Result CollectAdminsResult
}

// CollectAnnouncementAdmins writes the admins of every space an announcement reaches
// (in service or deactivated, narrowed by its filter) to its recipients, one row per
// address lower-cased across spaces, page by page of spaces in slug order. It does
// nothing for another audience, or once the recipients are fixed. It heartbeats after
// every space and resumes from its last page on a retry; rows are added only once
// (models.AddAdminRecipients), so that reading a page again writes no duplicate. A
// space whose instance cannot be read is counted and named, not retried: one broken
// instance must not hold an announcement to thousands.
func (a *AudienceActivities) CollectAnnouncementAdmins(ctx context.Context, in CollectAdminsInput) (CollectAdminsResult, error) {
	logger := activity.GetLogger(ctx)
	ann, err := models.FindAnnouncement(ctx, a.DB, in.AnnouncementID)
	if err != nil {
		var e *models.Error
		if errors.As(err, &e) {
			return CollectAdminsResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeAnnouncementGone, nil)
		}
		return CollectAdminsResult{}, err
	}
	if ann.Audience != models.AudienceAdmins || ann.PreparedAt != nil {
		return CollectAdminsResult{Skipped: true}, nil
	}
	var p adminsProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
			logger.Warn("Admins reading restarts from the first space", "announcement", in.AnnouncementID, "error", err)
			p = adminsProgress{}
		}
	}
	for {
		slugs, err := models.AnnouncedSpaces(ctx, a.DB, ann.Filter, p.After, adminsPage)
		if err != nil {
			return p.Result, err
		}
		if len(slugs) == 0 {
			break
		}
		// The page's counts join p once its rows are written: the heartbeat carries
		// only what a retry need not read again.
		page := p.Result
		page.UnreadSlugs = slices.Clone(p.Result.UnreadSlugs)
		var rows []models.AdminAddress
		for _, slug := range slugs {
			rctx, cancel := context.WithTimeout(ctx, adminsReadTimeout)
			addrs, err := a.Driver.AdminEmails(rctx, slug)
			cancel()
			if ctx.Err() != nil {
				return p.Result, ctx.Err()
			}
			page.Spaces++
			if err != nil {
				page.Unread++
				if len(page.UnreadSlugs) < maxUnreadSlugs {
					page.UnreadSlugs = append(page.UnreadSlugs, slug)
				}
				logger.Warn("Admins of a space not read for an announcement", "announcement", in.AnnouncementID,
					"slug", slug, "error", err)
			}
			for _, addr := range addrs {
				rows = append(rows, models.AdminAddress{Address: addr, Slug: slug})
			}
			activity.RecordHeartbeat(ctx, p)
		}
		n, err := models.AddAdminRecipients(ctx, a.DB, in.AnnouncementID, rows)
		if errors.Is(err, models.ErrAnnouncementFixed) {
			return CollectAdminsResult{Skipped: true}, nil
		} else if err != nil {
			return p.Result, err
		}
		page.Recipients = n
		p = adminsProgress{After: slugs[len(slugs)-1], Result: page}
		activity.RecordHeartbeat(ctx, p)
	}
	if err := models.RecordUnreadSpaces(ctx, a.DB, in.AnnouncementID, p.Result.Unread); err != nil {
		return p.Result, err
	}
	logger.Info("Admins read for an announcement", "announcement", in.AnnouncementID, "spaces", p.Result.Spaces,
		"unread", p.Result.Unread, "recipients", p.Result.Recipients)
	return p.Result, nil
}
