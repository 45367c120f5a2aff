package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jardinier/models"
	"jardinier/workflows"
)

// spaceView is a space as moderators see it.
type spaceView struct {
	Slug             string             `json:"slug"`
	Status           models.Status      `json:"status"`
	ApplicationID    *string            `json:"application_id,omitempty"`
	NextcloudVersion string             `json:"nextcloud_version,omitempty"`
	OfficeSuite      models.OfficeSuite `json:"office_suite"`
	URL              string             `json:"url"`
	Bucket           string             `json:"bucket"`
	Limits           models.Limits      `json:"limits"`
	// OwnLimits: a moderator gave the space its limits, which the fleet's defaults
	// leave alone; LimitsVersion is the version of the defaults it was last told of.
	OwnLimits      bool       `json:"own_limits"`
	LimitsVersion  int        `json:"limits_version"`
	Exempt         bool       `json:"exempt"`
	SubmittedAt    time.Time  `json:"submitted_at"`
	DecidedAt      *time.Time `json:"decided_at,omitempty"`
	ProvisionedAt  *time.Time `json:"provisioned_at,omitempty"`
	LastActivityAt *time.Time `json:"last_activity_at,omitempty"`
	DeactivatedAt  *time.Time `json:"deactivated_at,omitempty"`
	DeletedAt      *time.Time `json:"deleted_at,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Usage          *usageView `json:"usage,omitempty"`

	// LastActivityMeasuredAt is when LastActivityAt was last read from the space.
	LastActivityMeasuredAt *time.Time `json:"last_activity_measured_at,omitempty"`
}

// usageView is what a space held when its quota was last shared out.
type usageView struct {
	StorageUsedBytes int64     `json:"storage_used_bytes"`
	Accounts         int       `json:"accounts"`
	MeasuredAt       time.Time `json:"measured_at"`
}

// spaceURL is where a space is reached.
func (s *Server) spaceURL(slug string) string { return "https://" + slug + "." + s.cfg.BaseDomain }

func (s *Server) viewOf(sp *models.Space) spaceView {
	var usage *usageView
	if sp.UsageAt != nil {
		usage = &usageView{StorageUsedBytes: sp.StorageUsedBytes, Accounts: sp.Accounts, MeasuredAt: *sp.UsageAt}
	}
	return spaceView{Usage: usage, Slug: sp.Slug, Status: sp.Status, ApplicationID: sp.ApplicationID,
		NextcloudVersion: sp.NextcloudVersion, OfficeSuite: sp.OfficeSuite,
		URL: s.spaceURL(sp.Slug), Bucket: sp.BucketName,
		Limits:    models.Limits{MaxAccounts: sp.MaxAccounts, QuotaBytes: sp.QuotaBytes, MaxVideoBytes: sp.MaxVideoBytes},
		OwnLimits: sp.OwnLimits, LimitsVersion: sp.LimitsVersion,
		Exempt: sp.Exempt, SubmittedAt: sp.SubmittedAt, DecidedAt: sp.DecidedAt, ProvisionedAt: sp.ProvisionedAt,
		LastActivityAt: sp.LastActivityAt, DeactivatedAt: sp.DeactivatedAt, DeletedAt: sp.DeletedAt, Reason: sp.StatusReason,
		LastActivityMeasuredAt: sp.LastActivityMeasuredAt}
}

// listSpaces lists spaces from the database projection, newest first.
func (s *Server) listSpaces(c *gin.Context) {
	q, err := spaceQueryOf(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.findSpaces(c.Request.Context(), q)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// spaceDetail adds what the space's workflow says now to the projection.
type spaceDetail struct {
	spaceView
	Workflow *workflowView `json:"workflow,omitempty"`
	Cron     *cronView     `json:"cron,omitempty"`
}

// cronView is what the cron service did last of a space in service: its background
// jobs (cron.php), and whether they are late for the moderators.
type cronView struct {
	DueAt      time.Time  `json:"due_at"`
	StartedAt  *time.Time `json:"last_started_at,omitempty"`
	DurationMS int64      `json:"last_duration_ms"`
	ExitCode   *int       `json:"last_exit_code,omitempty"`
	Outcome    string     `json:"last_outcome,omitempty"` // ok, failed, timeout or skipped
	Error      string     `json:"last_error,omitempty"`
	LastOKAt   *time.Time `json:"last_ok_at,omitempty"`
	Late       bool       `json:"late"`
}

// cronOf reads the cron service's row of a space in service; nil for other spaces. A
// space in service without a row is late once it has been so for CronLateIntervals.
func (s *Server) cronOf(ctx context.Context, sp *models.Space) (*cronView, error) {
	if sp.Status != models.StatusActive {
		return nil, nil
	}
	inService := sp.SubmittedAt
	if sp.ProvisionedAt != nil {
		inService = *sp.ProvisionedAt
	}
	var rows []models.CronRun
	if err := s.db.WithContext(ctx).Where("space_id = ?", sp.ID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load cron run of %q: %w", sp.Slug, err)
	}
	if len(rows) == 0 {
		return &cronView{Late: (*models.CronRun)(nil).Late(inService, s.now(), s.cfg.Cron.Every)}, nil
	}
	r := rows[0]
	return &cronView{DueAt: r.DueAt, StartedAt: r.LastStartedAt, DurationMS: r.LastDurationMS, ExitCode: r.LastExitCode,
		Outcome: r.LastOutcome, Error: r.LastError, LastOKAt: r.LastOKAt,
		Late: r.Late(inService, s.now(), s.cfg.Cron.Every)}, nil
}

// workflowView is the answer of the workflow's status query.
type workflowView struct {
	ID        string        `json:"id"`
	Status    models.Status `json:"status"`
	LastError string        `json:"last_error,omitempty"`
	Steps     []stepView    `json:"steps"`
}

type stepView struct {
	Status models.Status `json:"status"`
	Actor  string        `json:"actor"`
	Reason string        `json:"reason,omitempty"`
	At     time.Time     `json:"at"`
}

// getSpace shows one space: the live one holding the slug, or else its latest tombstone.
// The status is the workflow's own when it answers, the projection's otherwise.
func (s *Server) getSpace(c *gin.Context) {
	d, err := s.spaceDetailOf(c.Request.Context(), c.Param("slug"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// spaceDetailOf is a space as the API and the console show it.
func (s *Server) spaceDetailOf(ctx context.Context, slug string) (*spaceDetail, error) {
	sp, err := s.loadSpace(ctx, slug)
	if err != nil {
		return nil, err
	}
	d := spaceDetail{spaceView: s.viewOf(sp)}
	if d.Cron, err = s.cronOf(ctx, sp); err != nil {
		return nil, err
	}
	if sp.Status.Open() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var st workflows.SpaceStatus
		v, err := s.temporal.QueryWorkflow(ctx, workflows.SpaceWorkflowID(slug), "", workflows.QueryStatus)
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil {
			s.logger.Warn("Space workflow did not answer its status query", "slug", slug, "error", err)
		} else {
			// The workflow is ahead of its projection: what it answers goes together.
			d.Status = st.Status
			if st.NextcloudVersion != "" {
				d.NextcloudVersion = st.NextcloudVersion
			}
			if st.OfficeSuite != "" {
				d.OfficeSuite = st.OfficeSuite
			}
			d.Workflow = &workflowView{ID: workflows.SpaceWorkflowID(slug), Status: st.Status, LastError: st.LastError, Steps: []stepView{}}
			for _, step := range st.Steps {
				d.Workflow.Steps = append(d.Workflow.Steps, stepView{Status: step.Status, Actor: step.Actor, Reason: step.Reason, At: step.At})
			}
		}
	}
	return &d, nil
}

// loadSpace reads the projection of the space holding the slug, or else of its latest
// tombstone.
func (s *Server) loadSpace(ctx context.Context, slug string) (*models.Space, error) {
	var sp models.Space
	err := s.db.WithContext(ctx).Where("slug = ?", slug).
		// Take, not First: First would replace this order by the primary key's.
		Order(clause.OrderBy{Expression: clause.Expr{SQL: "CASE WHEN status IN ? THEN 1 ELSE 0 END, submitted_at DESC",
			Vars: []any{models.ClosedStatuses}}}).Take(&sp).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, models.Errorf(models.ENOTFOUND, "espace %q introuvable", slug)
	} else if err != nil {
		return nil, fmt.Errorf("load space %q: %w", slug, err)
	}
	return &sp, nil
}
