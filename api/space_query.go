package api

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"jardinier/models"
)

// fullUsageRatio is where a space counts as nearly full in the lists: past 90 % of its
// quota its users soon cannot write.
const fullUsageRatio = 0.9

// maxInactiveDays bounds the "no activity for N days" filter: ten years.
const maxInactiveDays = 3650

// spaceQuery is what a list of spaces is filtered by; the API and the console read it
// from the same URL parameters.
type spaceQuery struct {
	listPage
	Status       models.Status      // status=
	Version      string             // version=, a Nextcloud version or its major ("31")
	OfficeSuite  models.OfficeSuite // office=
	Exempt       *bool              // exempt=true|false
	Full         bool               // full=true: storage above fullUsageRatio of the quota
	InactiveDays int                // inactive_days=N: no activity for N days or more
	Search       string             // q=, in the slug and the organisation's name
	CronLate     bool               // cron=late: background jobs failed or not run for models.CronLateIntervals
}

// Values returns the query as URL parameters, without the page, for the links of the
// list's pages.
func (q spaceQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("status", string(q.Status))
	set("version", q.Version)
	set("office", string(q.OfficeSuite))
	if q.Exempt != nil {
		v.Set("exempt", strconv.FormatBool(*q.Exempt))
	}
	if q.Full {
		v.Set("full", "true")
	}
	if q.InactiveDays > 0 {
		v.Set("inactive_days", strconv.Itoa(q.InactiveDays))
	}
	set("q", q.Search)
	if q.CronLate {
		v.Set("cron", "late")
	}
	return v
}

// spaceQueryOf reads a spaceQuery from the request's URL parameters.
func spaceQueryOf(c *gin.Context) (spaceQuery, error) {
	lp, err := listPageParam(c, func(key string) bool {
		_, err := strconv.ParseUint(key, 10, 64)
		return err == nil
	})
	if err != nil {
		return spaceQuery{}, err
	}
	status, err := statusParam(c)
	if err != nil {
		return spaceQuery{}, err
	}
	q := spaceQuery{listPage: lp, Status: status, Version: strings.TrimSpace(c.Query("version")),
		OfficeSuite: models.OfficeSuite(c.Query("office")), Search: strings.TrimSpace(c.Query("q"))}
	if q.OfficeSuite != "" && !slices.Contains(models.OfficeSuites, q.OfficeSuite) {
		return q, models.FieldError("office", "suite bureautique inconnue %q", q.OfficeSuite)
	}
	if len(q.Version) > 20 {
		return q, models.FieldError("version", "version trop longue")
	}
	switch c.Query("exempt") {
	case "":
	case "true", "false":
		v := c.Query("exempt") == "true"
		q.Exempt = &v
	default:
		return q, models.FieldError("exempt", "doit être true ou false")
	}
	switch c.Query("full") {
	case "", "false":
	case "true":
		q.Full = true
	default:
		return q, models.FieldError("full", "doit être true ou false")
	}
	if v := c.Query("inactive_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxInactiveDays {
			return q, models.FieldError("inactive_days", "doit être un nombre entier de jours, de 1 à %d", maxInactiveDays)
		}
		q.InactiveDays = n
	}
	if len(q.Search) > 200 {
		return q, models.FieldError("q", "recherche trop longue")
	}
	switch c.Query("cron") {
	case "":
	case "late":
		q.CronLate = true
	default:
		return q, models.FieldError("cron", "doit être late")
	}
	return q, nil
}

// findSpaces is the list of spaces of the API and the console, from the database
// projection, newest first: its total counted up to listCountCap, its pages read by
// keyset from a cursor, or with OFFSET from a page number.
func (s *Server) findSpaces(ctx context.Context, sq spaceQuery) (*listResponse[spaceView], error) {
	db := s.db.WithContext(ctx)
	q := db.Model(&models.Space{})
	if sq.Status != "" {
		q = q.Where("spaces.status = ?", sq.Status)
	}
	if sq.Version != "" {
		q = q.Where("spaces.nextcloud_version = ? OR spaces.nextcloud_version LIKE ?", sq.Version, sq.Version+".%")
	}
	if sq.OfficeSuite != "" {
		q = q.Where("spaces.office_suite = ?", sq.OfficeSuite)
	}
	if sq.Exempt != nil {
		q = q.Where("spaces.exempt = ?", *sq.Exempt)
	}
	if sq.Full {
		q = q.Where("spaces.quota_bytes > 0 AND spaces.storage_used_bytes >= spaces.quota_bytes * ?", fullUsageRatio)
	}
	if sq.InactiveDays > 0 {
		since := s.now().UTC().Add(-time.Duration(sq.InactiveDays) * 24 * time.Hour)
		q = q.Where("spaces.status IN ? AND COALESCE(spaces.last_activity_at, spaces.provisioned_at, spaces.submitted_at) <= ?",
			[]models.Status{models.StatusActive, models.StatusDeactivated}, since)
	}
	if sq.CronLate {
		since := models.CronLateSince(s.now().UTC(), s.cfg.Cron.Every)
		q = q.Where(models.CronLateCondition, since, since)
	}
	if sq.Search != "" {
		q = q.Where("spaces.slug ILIKE ? OR spaces.application_id IN (SELECT id FROM applications WHERE organization_name ILIKE ?)",
			likePattern(sq.Search), likePattern(sq.Search))
	}
	q = q.Session(&gorm.Session{}) // the count and the page each build on it
	var resp listResponse[spaceView]
	var err error
	if resp.Total, resp.TotalCapped, err = countUpTo(db, q, countCap(sq.Search)); err != nil {
		return nil, err
	}
	var rows []models.Space
	resp.Page = max(sq.Page, 1)
	id := func(c *listCursor) uint64 {
		id, _ := strconv.ParseUint(c.Key, 10, 64) // checked by spaceQueryOf
		return id
	}
	if resp.NextCursor, resp.PrevCursor, err = readPage(q, sq.listPage, keyset[models.Space]{
		order: "spaces.submitted_at DESC, spaces.id DESC", reverse: "spaces.submitted_at, spaces.id",
		after: func(q *gorm.DB, c *listCursor) *gorm.DB {
			return q.Where("(spaces.submitted_at, spaces.id) < (?, ?)", c.At, id(c))
		},
		before: func(q *gorm.DB, c *listCursor) *gorm.DB {
			return q.Where("(spaces.submitted_at, spaces.id) > (?, ?)", c.At, id(c))
		},
		keyOf: func(sp *models.Space) (time.Time, string) {
			return sp.SubmittedAt, strconv.FormatUint(uint64(sp.ID), 10)
		},
	}, &rows); err != nil {
		return nil, err
	}
	resp.Items = make([]spaceView, 0, len(rows))
	for i := range rows {
		resp.Items = append(resp.Items, s.viewOf(&rows[i]))
	}
	return &resp, nil
}
