package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// Sizes and pace of an announcement.
const (
	// announcementWindow bounds the mails scheduled at once: several seconds of any
	// sensible MAIL_RATE, so that the lane never waits for the workflow, and few
	// enough that the queue holds seconds of bulk, not the whole announcement.
	announcementWindow = 200
	// announcementHistoryLimit: past this many events (about 3,000 mails) the workflow
	// lets the mails under way finish and continues as new.
	announcementHistoryLimit = 10_000
	// announcementRecordEvery is how often the counts reach the announcement's row,
	// which the list screens read.
	announcementRecordEvery = 2 * time.Second
	// announcementMailTimeout bounds one mail: the SMTP phases stay under it (see
	// mail.smtpTimeout), so that two attempts of one mail never run at once.
	announcementMailTimeout = time.Minute
	// announcementAdminsTimeout bounds the reading of every space's admins: one query
	// per instance, 10,000 spaces in well under an hour. It heartbeats after each.
	announcementAdminsTimeout = time.Hour
)

// announceAdminsChange is the change ID (workflow.GetVersion) of the runs that read
// the spaces' admins before fixing the recipients.
const announceAdminsChange = "announcement-admins"

// AnnouncementWorkflow sends an announcement to every one of its recipients, once
// each, through the mail lane at bulk priority, at most a window of mails at a time.
// Admins pause, resume and cancel it; its progress is a query. The recipients are
// fixed at the start (one per address) and known here by their number only.
func AnnouncementWorkflow(ctx workflow.Context, in AnnouncementInput) (AnnouncementProgress, error) {
	a := &announcement{in: in}
	// Sending from the first instant: a control that comes while the recipients are
	// being fixed is judged against it.
	a.st.Status = models.AnnouncementSending
	if err := a.register(ctx); err != nil {
		return AnnouncementProgress{}, err
	}
	if in.State != nil {
		a.st = *in.State
		a.in.State = nil
	} else if err := a.prepare(ctx); err != nil {
		return AnnouncementProgress{}, err
	}
	return a.run(ctx)
}

// announcement is the state of one announcement's sending.
type announcement struct {
	in         AnnouncementInput
	st         AnnouncementState
	inFlight   int
	recordedAt time.Time
	recorded   AnnouncementState // what the row last got
	// withdraw takes back from the queue the mails no worker has taken yet: a pause or
	// a cancel then stops the announcement at once, not a window of mails later.
	withdraw workflow.CancelFunc
}

func (a *announcement) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryAnnouncementProgress, func() (AnnouncementProgress, error) {
		return a.progress(workflow.Now(ctx)), nil
	}); err != nil {
		return fmt.Errorf("register progress query: %w", err)
	}
	controls := map[string]struct {
		from []models.AnnouncementStatus
		to   models.AnnouncementStatus
	}{
		UpdateAnnouncementPause:  {[]models.AnnouncementStatus{models.AnnouncementSending}, models.AnnouncementPaused},
		UpdateAnnouncementResume: {[]models.AnnouncementStatus{models.AnnouncementPaused}, models.AnnouncementSending},
		UpdateAnnouncementCancel: {[]models.AnnouncementStatus{models.AnnouncementSending, models.AnnouncementPaused}, models.AnnouncementCancelled},
	}
	for _, name := range workflow.DeterministicKeys(controls) {
		c := controls[name]
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, in AnnouncementControlInput) (AnnouncementControlResult, error) {
				a.st.Status = c.to
				if c.to != models.AnnouncementSending && a.withdraw != nil {
					a.withdraw()
					a.withdraw = nil // the next mails get a context of their own
				}
				workflow.GetLogger(ctx).Info("Announcement control", "announcement", a.in.ID, "control", name,
					"actor", in.Actor, "reason", in.Reason)
				return AnnouncementControlResult{Status: a.st.Status}, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in AnnouncementControlInput) error {
				if in.Actor == "" {
					return refuseField("actor", "l'auteur est obligatoire")
				}
				if err := checkReason(in.Reason); err != nil {
					return err
				}
				if !slices.Contains(c.from, a.st.Status) {
					return refuse(ErrTypeNotAllowed, "l'annonce est à l'état %s : « %s » n'est pas possible", a.st.Status, name)
				}
				return nil
			}})
		if err != nil {
			return fmt.Errorf("register %s update: %w", name, err)
		}
	}
	return nil
}

// prepare fixes the recipients: the people the audience reaches now, one per address.
func (a *announcement) prepare(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	a.st.Next, a.st.StartedAt = 1, now
	if workflow.GetVersion(ctx, announceAdminsChange, workflow.DefaultVersion, 1) >= 1 {
		if err := a.collectAdmins(ctx); err != nil {
			return err
		}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 2 * time.Minute})
	var ma *mail.Activities
	var res mail.PrepareAnnouncementResult
	if err := workflow.ExecuteActivity(actx, ma.PrepareAnnouncement, mail.PrepareAnnouncementInput{
		AnnouncementID: a.in.ID, Now: now}).Get(ctx, &res); err != nil {
		return fmt.Errorf("prepare announcement %s: %w", a.in.ID, err)
	}
	a.st.Total = res.Total
	a.recorded = a.st
	workflow.GetLogger(ctx).Info("Announcement recipients fixed", "announcement", a.in.ID, "recipients", res.Total)
	return nil
}

// collectAdmins writes the rows of the spaces' admins, read from the instances, when
// the announcement goes to them (the activity does nothing otherwise).
func (a *announcement) collectAdmins(ctx workflow.Context) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: announcementAdminsTimeout, HeartbeatTimeout: heartbeatTimeout})
	var aa *nextcloud.AudienceActivities
	var res nextcloud.CollectAdminsResult
	if err := workflow.ExecuteActivity(actx, aa.CollectAnnouncementAdmins, nextcloud.CollectAdminsInput{
		AnnouncementID: a.in.ID}).Get(ctx, &res); err != nil {
		return fmt.Errorf("read admins of announcement %s: %w", a.in.ID, err)
	}
	if !res.Skipped {
		a.st.UnreadSpaces = res.Unread
		workflow.GetLogger(ctx).Info("Announcement admins read", "announcement", a.in.ID, "spaces", res.Spaces,
			"unread", res.Unread, "unread_slugs", res.UnreadSlugs, "recipients", res.Recipients)
	}
	return nil
}

func (a *announcement) window() int {
	if a.in.Window > 0 {
		return a.in.Window
	}
	return announcementWindow
}

func (a *announcement) run(ctx workflow.Context) (AnnouncementProgress, error) {
	var ma *mail.Activities
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: announcementMailTimeout,
		// Until the relay takes it: only a refusal for good (non-retryable) comes back.
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: time.Minute},
	}
	// A mail taken back from the queue comes back canceled; one a worker has started
	// finishes (the activity does not heartbeat), and its answer is waited for.
	opts.WaitForCancellation = true
	sel := workflow.NewSelector(ctx)
	draining := false // on the way to Continue-As-New: no new mail
	var mctx workflow.Context
	for {
		for a.st.Status == models.AnnouncementSending && !draining && a.inFlight < a.window() && a.pending() {
			if a.withdraw == nil {
				mctx, a.withdraw = workflow.WithCancel(ctx)
			}
			seq := a.take()
			f := executeMail(mctx, mail.KindAnnouncement, opts, ma.SendAnnouncement,
				mail.AnnouncementMailInput{AnnouncementID: a.in.ID, Seq: seq})
			a.inFlight++
			sel.AddFuture(f, func(f workflow.Future) { a.account(ctx, f, seq) })
		}
		if a.inFlight == 0 {
			switch {
			case a.st.Status == models.AnnouncementCancelled, !a.pending():
				return a.finish(ctx)
			case draining:
				return AnnouncementProgress{}, a.continueAsNew(ctx)
			case a.st.Status == models.AnnouncementPaused:
				a.record(ctx, true)
				if err := workflow.Await(ctx, func() bool { return a.st.Status != models.AnnouncementPaused }); err != nil {
					return AnnouncementProgress{}, err
				}
				continue
			}
		}
		sel.Select(ctx)
		for sel.HasPending() {
			sel.Select(ctx)
		}
		a.record(ctx, false)
		if info := workflow.GetInfo(ctx); info.GetCurrentHistoryLength() > announcementHistoryLimit || info.GetContinueAsNewSuggested() {
			draining = true
		}
	}
}

// pending reports whether recipients remain to be scheduled.
func (a *announcement) pending() bool { return len(a.st.Requeued) > 0 || a.st.Next <= a.st.Total }

// take returns the next recipient to schedule: those taken back first.
func (a *announcement) take() int {
	if len(a.st.Requeued) > 0 {
		seq := a.st.Requeued[0]
		a.st.Requeued = a.st.Requeued[1:]
		return seq
	}
	a.st.Next++
	return a.st.Next - 1
}

// account counts one recipient's outcome.
func (a *announcement) account(ctx workflow.Context, f workflow.Future, seq int) {
	a.inFlight--
	var res mail.SendResult
	err := f.Get(ctx, &res)
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		// Taken back before any worker took it: nothing was sent.
		a.st.Requeued = append(a.st.Requeued, seq)
		return
	}
	if err != nil {
		a.st.Failed++
		workflow.GetLogger(ctx).Warn("Announcement not delivered to a recipient", "announcement", a.in.ID, "seq", seq, "error", err)
		return
	}
	a.st.Sent++
	if res.AlreadySent {
		a.st.AlreadySent++
	}
}

// record writes the counts to the announcement's row every announcementRecordEvery,
// or at once when now is set. The row is a view: a failure is logged.
func (a *announcement) record(ctx workflow.Context, now bool) {
	at := workflow.Now(ctx)
	changed := a.recorded.Status != a.st.Status || a.recorded.Sent != a.st.Sent || a.recorded.Failed != a.st.Failed
	if !changed || (!now && at.Sub(a.recordedAt) < announcementRecordEvery && a.recorded.Status == a.st.Status) {
		return
	}
	var ma *mail.Activities
	err := workflow.ExecuteLocalActivity(fleetDBContext(ctx), ma.RecordAnnouncement, mail.RecordAnnouncementInput{
		AnnouncementID: a.in.ID, Now: at,
		Progress: models.AnnouncementProgress{Status: a.st.Status, Sent: a.st.Sent, Failed: a.st.Failed}}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("Announcement progress not recorded", "announcement", a.in.ID, "error", err)
		return
	}
	a.recordedAt, a.recorded = at, a.st
}

// finish records the end and deletes the recipients' addresses: retried until it
// works, since they must not stay.
func (a *announcement) finish(ctx workflow.Context) (AnnouncementProgress, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return AnnouncementProgress{}, err
	}
	if a.st.Status != models.AnnouncementCancelled {
		a.st.Status = models.AnnouncementDone
	}
	at := workflow.Now(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: time.Minute}})
	var ma *mail.Activities
	if err := workflow.ExecuteActivity(actx, ma.RecordAnnouncement, mail.RecordAnnouncementInput{
		AnnouncementID: a.in.ID, Now: at,
		Progress: models.AnnouncementProgress{Status: a.st.Status, Sent: a.st.Sent, Failed: a.st.Failed, Finished: true},
	}).Get(ctx, nil); err != nil {
		return AnnouncementProgress{}, fmt.Errorf("record end of announcement %s: %w", a.in.ID, err)
	}
	p := a.progress(at)
	workflow.GetLogger(ctx).Info("Announcement over", "announcement", a.in.ID, "status", p.Status,
		"sent", p.Sent, "already_sent", a.st.AlreadySent, "failed", p.Failed, "total", p.Total)
	return p, nil
}

func (a *announcement) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	in := a.in
	st := a.st
	in.State = &st
	return workflow.NewContinueAsNewError(ctx, AnnouncementWorkflowType, in)
}

// progress is what the query answers.
func (a *announcement) progress(now time.Time) AnnouncementProgress {
	p := AnnouncementProgress{ID: a.in.ID, Status: a.st.Status, Total: a.st.Total, Sent: a.st.Sent,
		Failed: a.st.Failed, InFlight: a.inFlight, Remaining: max(a.st.Total-a.st.Next+1, 0) + len(a.st.Requeued),
		StartedAt: a.st.StartedAt, UnreadSpaces: a.st.UnreadSpaces}
	if done := p.Sent + p.Failed; done > 0 && p.Status == models.AnnouncementSending {
		perMail := now.Sub(a.st.StartedAt) / time.Duration(done)
		p.EstimatedEnd = now.Add(perMail * time.Duration(p.Remaining+p.InFlight))
	}
	return p
}
