package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/mail"
	"jardinier/models"
)

// The moderators' own mails: an invitation or a password reset link, and the daily
// digest of what waits for them.
const (
	// ModeratorMailWorkflowType is the name ModeratorMailWorkflow is registered under.
	ModeratorMailWorkflowType = "ModeratorMailWorkflow"
	// DigestWorkflowType is the name DigestWorkflow is registered under.
	DigestWorkflowType = "DigestWorkflow"
	// DigestScheduleID names the Temporal schedule that starts DigestWorkflow every
	// morning; ops find it under Schedules in the Temporal UI.
	DigestScheduleID = "moderators-digest"
	// DigestHour is when the digest goes out, Paris time: before a volunteer's day.
	DigestHour = 7
	// digestPeriod is what one digest covers: the day since the previous one.
	digestPeriod = 24 * time.Hour
)

// moderatorMailWorkflowIDPrefix starts the ID of every ModeratorMailWorkflow.
const moderatorMailWorkflowIDPrefix = "moderator-mail/"

// ModeratorMailWorkflowID is the ID of the workflow mailing one link: one per link, so
// that a retried request does not mail it twice.
func ModeratorMailWorkflowID(linkID string) string { return moderatorMailWorkflowIDPrefix + linkID }

// ModeratorMailInput asks for the mail of one link. It holds the link's ID, not the
// address nor the token: the activity reads and signs them.
type ModeratorMailInput struct {
	Kind   mail.Kind // mail.KindModeratorInvitation or mail.KindModeratorReset
	LinkID string
}

// ModeratorMailResult says whether the mail was sent by this run or an earlier one.
type ModeratorMailResult struct {
	MessageID   string
	AlreadySent bool
}

// ModeratorMailWorkflow mails a moderator their invitation or reset link, exactly once.
// A link expires within days: retrying longer than that is pointless.
func ModeratorMailWorkflow(ctx workflow.Context, in ModeratorMailInput) (ModeratorMailResult, error) {
	var ma *mail.Activities
	opts := workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute, // one SMTP transaction; at least a minute (mail.Send)
		ScheduleToCloseTimeout: models.PasswordResetValidity,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute},
	}
	var res mail.SendResult
	if err := executeMail(ctx, in.Kind, opts, ma.SendModeratorMail, mail.ModeratorMailInput{Kind: in.Kind, LinkID: in.LinkID}).
		Get(ctx, &res); err != nil {
		return ModeratorMailResult{}, err
	}
	return ModeratorMailResult{MessageID: res.MessageID, AlreadySent: res.AlreadySent}, nil
}

// DigestInput starts a digest; the zero value is what the schedule sends.
type DigestInput struct{}

// DigestResult is what the digest held, shown by the Temporal UI.
type DigestResult struct {
	Sent     bool
	New      int
	Overdue  int
	Failures int
	Held     int
}

// DigestWorkflow mails the moderators the applications submitted over the last day,
// those waiting more than models.LongWaitDays, and what failed; nothing on a day with
// nothing to say.
func DigestWorkflow(ctx workflow.Context, _ DigestInput) (DigestResult, error) {
	var ma *mail.Activities
	now := workflow.Now(ctx)
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		// Past a few hours the next digest is closer than this one's news.
		ScheduleToCloseTimeout: 6 * time.Hour,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute},
	}
	var res mail.DigestResult
	if err := executeMail(ctx, mail.KindModeratorDigest, opts, ma.SendDigest, mail.DigestInput{Now: now, Since: now.Add(-digestPeriod)}).
		Get(ctx, &res); err != nil {
		return DigestResult{}, err
	}
	workflow.GetLogger(ctx).Info("Moderators' digest", "sent", res.Sent, "new", res.New, "overdue", res.Waiting, "failures", res.Failures,
		"held", res.Held)
	return DigestResult{Sent: res.Sent, New: res.New, Overdue: res.Waiting, Failures: res.Failures, Held: res.Held}, nil
}

// EnsureDigestSchedule creates the schedule of the daily digest, or brings an existing
// one to DigestHour in Paris.
func EnsureDigestSchedule(ctx context.Context, c client.Client) error {
	spec := client.ScheduleSpec{
		Calendars:    []client.ScheduleCalendarSpec{{Hour: []client.ScheduleRange{{Start: DigestHour}}}},
		TimeZoneName: models.Paris.String(),
	}
	sc := c.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      DigestScheduleID,
		Spec:    spec,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:                       DigestScheduleID,
			Workflow:                 DigestWorkflowType,
			Args:                     []any{DigestInput{}},
			TaskQueue:                TaskQueue,
			WorkflowExecutionTimeout: 12 * time.Hour,
		},
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		if err != nil {
			return fmt.Errorf("create schedule %s: %w", DigestScheduleID, err)
		}
		return nil
	}
	err = sc.GetHandle(ctx, DigestScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			in.Description.Schedule.Spec = &spec
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", DigestScheduleID, err)
	}
	return nil
}
