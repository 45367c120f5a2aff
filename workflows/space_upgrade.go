package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// upgradeWebCheckChange names the change that checks a space over HTTP (the web step)
// once it leaves maintenance, before its upgrade counts as done.
const upgradeWebCheckChange = "upgrade-web-check"

// upgradeAttempts bounds the retries of one upgrade step: past that the upgrade is
// rolled back. The rollback itself retries until it works.
const upgradeAttempts = 3

// pendingUpgrades moves the upgrade requests waiting in the signal channel into the
// state, so that none is lost across Continue-As-New or while the space is busy.
func (s *space) pendingUpgrades(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalUpgradeSpace)
	for {
		var req UpgradeSpaceRequest
		if !ch.ReceiveAsync(&req) {
			return
		}
		s.st.Lifecycle.Upgrades = append(s.st.Lifecycle.Upgrades, req)
	}
}

// upgradeWaiting reports whether an upgrade request waits, in the state or the channel.
func (s *space) upgradeWaiting(ctx workflow.Context) bool {
	return len(s.st.Lifecycle.Upgrades) > 0 || workflow.GetSignalChannel(ctx, SignalUpgradeSpace).Len() > 0
}

// upgradeStepTimeout is the start-to-close timeout of an upgrade step: the database
// dump and restore and occ upgrade take minutes on a space of 100,000+ files, the
// others one occ command or a file.
func upgradeStepTimeout(step string) time.Duration {
	switch step {
	case nextcloud.UpgradeStepSnapshot, nextcloud.UpgradeStepRestore, nextcloud.UpgradeStepUpgrade:
		return nextcloudLongTimeout
	}
	return nextcloudShortTimeout
}

// upgradeNext runs the oldest waiting upgrade request and answers the fleet upgrade.
func (s *space) upgradeNext(ctx workflow.Context) error {
	s.pendingUpgrades(ctx)
	if len(s.st.Lifecycle.Upgrades) == 0 {
		return nil
	}
	req := s.st.Lifecycle.Upgrades[0]
	s.st.Lifecycle.Upgrades = s.st.Lifecycle.Upgrades[1:]
	report, snapshot, err := s.upgrade(ctx, req)
	if err != nil {
		return err
	}
	s.report(ctx, req, report)
	if report.Outcome == SpaceUpgraded && snapshot != "" {
		s.afterUpgrade(ctx, snapshot)
	}
	return nil
}

// afterUpgrade runs the slow optional steps once the space is back in service and the
// fleet upgrade has its answer; a failure there leaves a working space.
func (s *space) afterUpgrade(ctx workflow.Context, snapshot string) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour, // missing indices on a large space
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: upgradeAttempts},
	})
	var na *nextcloud.Activities
	for _, in := range []nextcloud.UpgradeStepInput{{Step: nextcloud.UpgradeStepPost}, {Step: nextcloud.UpgradeStepDropSnap, Snapshot: snapshot}} {
		in.Slug = s.in.Slug
		if err := workflow.ExecuteActivity(actx, na.RunUpgradeStep, in).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("Optional step after upgrade failed", "slug", s.in.Slug, "step", in.Step, "error", err)
		}
	}
}

// skipUpgrades answers every waiting request when the space ends.
func (s *space) skipUpgrades(ctx workflow.Context) {
	s.pendingUpgrades(ctx)
	for _, req := range s.st.Lifecycle.Upgrades {
		s.report(ctx, req, SpaceUpgradeReport{Slug: s.in.Slug, Outcome: SpaceSkipped, From: s.st.NextcloudVersion,
			To: req.Target, Status: s.st.Status, Error: fmt.Sprintf("l'espace est à l'état %s", s.st.Status)})
	}
	s.st.Lifecycle.Upgrades = nil
}

func (s *space) report(ctx workflow.Context, req UpgradeSpaceRequest, rep SpaceUpgradeReport) {
	rep.Slug, rep.Status = s.in.Slug, s.st.Status
	if err := workflow.SignalExternalWorkflow(ctx, req.UpgradeID, "", SignalSpaceUpgraded, rep).Get(ctx, nil); err != nil {
		// The fleet upgrade may be over (aborted): the space's history keeps the outcome.
		workflow.GetLogger(ctx).Warn("Upgrade report not delivered", "slug", s.in.Slug, "upgrade", req.UpgradeID, "error", err)
	}
}

// upgrade moves the space to req.Target inside its own workflow: maintenance on, cron
// paused, database snapshot, new code base, occ upgrade, health check, maintenance off,
// the space checked over HTTP through its web server, cron back. On failure the snapshot is restored, the old code base is back and the
// space leaves maintenance: it is never left broken or in maintenance. It returns the
// report and, after a successful upgrade, the snapshot to drop once in service.
func (s *space) upgrade(ctx workflow.Context, req UpgradeSpaceRequest) (SpaceUpgradeReport, string, error) {
	logger := workflow.GetLogger(ctx)
	rep := SpaceUpgradeReport{From: s.st.NextcloudVersion, To: req.Target}
	switch {
	case s.st.Status != models.StatusActive:
		rep.Outcome, rep.Error = SpaceSkipped, fmt.Sprintf("l'espace est à l'état %s", s.st.Status)
		return rep, "", nil
	case s.st.NextcloudVersion == req.Target:
		rep.Outcome = SpaceUpgraded // already there: a repeated request
		return rep, "", nil
	}
	if err := nextcloud.CheckUpgrade(s.st.NextcloudVersion, req.Target); err != nil {
		rep.Outcome, rep.Error = SpaceSkipped, err.Error()
		return rep, "", nil
	}
	logger.Info("Upgrading space", "slug", s.in.Slug, "from", s.st.NextcloudVersion, "to", req.Target)
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem, Action: ActionUpgradeStarted,
		Reason: s.st.NextcloudVersion + " → " + req.Target}); err != nil {
		return rep, "", err
	}

	step := func(actx workflow.Context, in nextcloud.UpgradeStepInput) (nextcloud.UpgradeStepResult, error) {
		in.Slug = s.in.Slug
		var na *nextcloud.Activities
		var res nextcloud.UpgradeStepResult
		actx = workflow.WithStartToCloseTimeout(actx, upgradeStepTimeout(in.Step))
		err := workflow.ExecuteActivity(actx, na.RunUpgradeStep, in).Get(ctx, &res)
		return res, err
	}
	try := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		HeartbeatTimeout: heartbeatTimeout, // the space is down meanwhile
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: upgradeAttempts,
			NonRetryableErrorTypes: []string{nextcloud.ErrTypePermanent}},
	})
	// Undoing must work whatever happens, even if the workflow is being cancelled.
	must, _ := workflow.NewDisconnectedContext(ctx)
	must = workflow.WithActivityOptions(must, workflow.ActivityOptions{
		HeartbeatTimeout: heartbeatTimeout,
		RetryPolicy:      &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute},
	})

	if _, err := step(must, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: true}); err != nil {
		return rep, "", err
	}
	down := workflow.Now(ctx)
	var snapshot string
	failed := func(err error) (SpaceUpgradeReport, string, error) {
		logger.Error("Upgrade failed, rolling back", "slug", s.in.Slug, "error", err)
		if snapshot != "" {
			if _, rerr := step(must, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepRestore, Snapshot: snapshot}); rerr != nil {
				return rep, "", rerr
			}
		}
		for _, in := range []nextcloud.UpgradeStepInput{
			{Step: nextcloud.UpgradeStepSwitchCode, Version: rep.From},
			{Step: nextcloud.UpgradeStepMaintenance, On: false},
			{Step: nextcloud.UpgradeStepCron, On: true},
		} {
			if _, rerr := step(must, in); rerr != nil {
				return rep, "", rerr
			}
		}
		rep.Downtime = workflow.Now(ctx).Sub(down)
		rep.Outcome, rep.Error = SpaceUpgradeFailed, failureMessage(err)
		return rep, "", s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem,
			Action: ActionUpgradeFailed, Reason: fmt.Sprintf("%s → %s : %s", rep.From, rep.To, rep.Error)})
	}
	if _, err := step(try, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepCron, On: false}); err != nil {
		return failed(err)
	}
	res, err := step(try, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSnapshot})
	if err != nil {
		return failed(err)
	}
	snapshot = res.Snapshot
	for _, in := range []nextcloud.UpgradeStepInput{
		{Step: nextcloud.UpgradeStepSwitchCode, Version: req.Target},
		{Step: nextcloud.UpgradeStepUpgrade, Version: req.Target},
	} {
		if _, err := step(try, in); err != nil {
			return failed(err)
		}
	}
	health, err := step(try, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepHealth})
	if err == nil && (health.Version != req.Target || health.CodeVersion != req.Target) {
		err = fmt.Errorf("health check: installed %s, code %s, want %s", health.Version, health.CodeVersion, req.Target)
	}
	if err != nil {
		return failed(err)
	}
	if _, err := step(must, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: false}); err != nil {
		return rep, "", err
	}
	up := workflow.Now(ctx)
	if workflow.GetVersion(ctx, upgradeWebCheckChange, workflow.DefaultVersion, 1) == 1 {
		// occ answered on the command line; users go through the web server, whose
		// php-fpm may still serve the old code base. Only it can say the space is back.
		if _, err := step(try, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepWeb, Version: req.Target}); err != nil {
			// Users may be back already: maintenance first, then the rollback.
			if _, rerr := step(must, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: true}); rerr != nil {
				return rep, "", rerr
			}
			return failed(err)
		}
	}
	if _, err := step(must, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepCron, On: true}); err != nil {
		return rep, "", err
	}
	rep.Downtime = up.Sub(down)
	s.st.NextcloudVersion = req.Target
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem, Action: ActionUpgraded,
		Reason: fmt.Sprintf("%s → %s, interruption %s", rep.From, rep.To, rep.Downtime.Round(time.Second))}); err != nil {
		return rep, "", err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, SearchAttrNextcloudVersion.ValueSet(s.st.NextcloudVersion)); err != nil {
		return rep, "", fmt.Errorf("search attributes of %q: %w", s.in.Slug, err)
	}
	rep.Outcome = SpaceUpgraded
	return rep, snapshot, nil
}
