package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
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

// upgradeWorkerLossChange names the change after which a step whose every attempt
// lost its worker (a heartbeat timeout: a crash, a restart during a deployment) is
// tried again, up to upgradeWorkerLosses times, rather than rolled back: nothing
// says the instance is at fault.
const (
	upgradeWorkerLossChange = "upgrade-worker-loss"
	upgradeWorkerLosses     = 3
)

// workerLost reports whether an activity's last attempt ended because its worker
// stopped heartbeating.
func workerLost(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_HEARTBEAT
}

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

// upgradeLocalStepsChange names the change after which the short steps of an upgrade
// run as local activities (localUpgradeStep): on the worker that runs the workflow,
// recorded as markers in the space's history with their input and result, without a
// round trip through the task queue each. With 11 activities a space, a fleet upgrade
// of 10,000 spaces spent more time queueing steps than running occ upgrade.
const upgradeLocalStepsChange = "upgrade-local-steps"

// localUpgradeStep reports whether step runs as a local activity under
// upgradeLocalStepsChange: one occ command, a symbolic link, a file or an HTTP check,
// seconds at most, each harmless to run again. The database dump and restore, occ
// upgrade and the repairs after it stay activities of their own, with heartbeats, so
// that a lost worker is seen at once and the step retried on another.
func localUpgradeStep(step string) bool {
	switch step {
	case nextcloud.UpgradeStepMaintenance, nextcloud.UpgradeStepCron, nextcloud.UpgradeStepSwitchCode,
		nextcloud.UpgradeStepHealth, nextcloud.UpgradeStepWeb, nextcloud.UpgradeStepDropSnap:
		return true
	}
	return false
}

// runUpgradeStep runs one step of an upgrade for the space, as a local activity when
// local is set and the step is short, else as an activity under ctx's options.
func (s *space) runUpgradeStep(ctx workflow.Context, local bool, in nextcloud.UpgradeStepInput) (nextcloud.UpgradeStepResult, error) {
	in.Slug = s.in.Slug
	var na *nextcloud.Activities
	var res nextcloud.UpgradeStepResult
	if local && localUpgradeStep(in.Step) {
		return res, workflow.ExecuteLocalActivity(ctx, na.RunUpgradeStep, in).Get(ctx, &res)
	}
	ctx = workflow.WithStartToCloseTimeout(ctx, upgradeStepTimeout(in.Step))
	return res, workflow.ExecuteActivity(ctx, na.RunUpgradeStep, in).Get(ctx, &res)
}

// upgradeStepContext is ctx with the options of upgrade steps retried under policy,
// as activities and as local activities. An activity without a schedule-to-close
// timeout is retried as long as its policy says; a local activity's would default to
// its start-to-close one, so it is set past any policy's end.
func upgradeStepContext(ctx workflow.Context, policy *temporal.RetryPolicy) workflow.Context {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: nextcloudShortTimeout,
		HeartbeatTimeout:    heartbeatTimeout, // the space may be down meanwhile
		RetryPolicy:         policy,
	})
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 365 * 24 * time.Hour,
		StartToCloseTimeout:    nextcloudShortTimeout,
		RetryPolicy:            policy,
	})
}

// upgradeStepTimeout is the start-to-close timeout of an upgrade step: the database
// dump and restore and occ upgrade take minutes on a space of 100,000+ files, the
// repairs after it (missing indices) up to hours, the others one occ command or a file.
func upgradeStepTimeout(step string) time.Duration {
	switch step {
	case nextcloud.UpgradeStepSnapshot, nextcloud.UpgradeStepRestore, nextcloud.UpgradeStepUpgrade:
		return nextcloudLongTimeout
	case nextcloud.UpgradeStepPost:
		return 2 * time.Hour
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
	actx := upgradeStepContext(ctx, &temporal.RetryPolicy{MaximumAttempts: upgradeAttempts})
	local := workflow.GetVersion(ctx, upgradeLocalStepsChange, workflow.DefaultVersion, 1) == 1
	for _, in := range []nextcloud.UpgradeStepInput{{Step: nextcloud.UpgradeStepPost}, {Step: nextcloud.UpgradeStepDropSnap, Snapshot: snapshot}} {
		if _, err := s.runUpgradeStep(actx, local, in); err != nil {
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
	rep := SpaceUpgradeReport{From: s.st.NextcloudVersion, To: req.Target}
	switch {
	case s.st.Status != models.StatusActive:
		rep.Outcome, rep.Error = SpaceSkipped, fmt.Sprintf("l'espace est à l'état %s", s.st.Status)
		return rep, "", nil
	case s.st.NextcloudVersion == req.Target:
		rep.Outcome = SpaceUpgraded // already there: a repeated request
		return rep, "", nil
	}
	if len(req.Through) > 0 && workflow.GetVersion(ctx, upgradeWalkChange, workflow.DefaultVersion, 1) == 1 {
		return s.walk(ctx, append(slices.Clone(req.Through), req.Target), true)
	}
	if err := nextcloud.CheckUpgrade(s.st.NextcloudVersion, req.Target); err != nil {
		rep.Outcome, rep.Error = SpaceSkipped, err.Error()
		return rep, "", nil
	}
	return s.upgradeTo(ctx, req.Target, true)
}

// upgradeWalkChange names the change that takes a space more than one major behind
// through each major in turn (UpgradeSpaceRequest.Through).
const upgradeWalkChange = "upgrade-walk"

// walk upgrades the space to each release of path in turn, each with its snapshot and
// rollback; the slow optional steps of a release run before the next one. It stops at
// the first failure, the space rolled back to the release it had reached, and reports
// from the first release to the last, with the downtime of every step. inService is
// upgradeTo's.
func (s *space) walk(ctx workflow.Context, path []string, inService bool) (SpaceUpgradeReport, string, error) {
	rep := SpaceUpgradeReport{From: s.st.NextcloudVersion, To: path[len(path)-1]}
	// Releases reached already (a request sent again after a step) are not run again.
	path = slices.DeleteFunc(slices.Clone(path), func(v string) bool { return !nextcloud.VersionLess(s.st.NextcloudVersion, v) })
	if len(path) == 0 {
		rep.Outcome = SpaceUpgraded
		return rep, "", nil
	}
	from := s.st.NextcloudVersion
	for _, v := range path {
		if err := nextcloud.CheckUpgrade(from, v); err != nil {
			rep.Outcome, rep.Error = SpaceSkipped, err.Error()
			return rep, "", nil
		}
		from = v
	}
	var snapshot string
	for i, v := range path {
		if i > 0 && snapshot != "" {
			s.afterUpgrade(ctx, snapshot) // the release before, done: in service meanwhile
		}
		step, snap, err := s.upgradeTo(ctx, v, inService)
		if err != nil {
			return rep, "", err
		}
		rep.Downtime += step.Downtime
		snapshot = snap
		if step.Outcome != SpaceUpgraded {
			rep.Outcome, rep.Error = step.Outcome, step.Error
			if i > 0 {
				rep.Error = fmt.Sprintf("arrêté en %s : %s", s.st.NextcloudVersion, step.Error)
			}
			return rep, "", nil
		}
	}
	rep.Outcome = SpaceUpgraded
	return rep, snapshot, nil
}

// upgradeTo moves the space to target, one release the installed one may go to. With
// inService false (a deactivated space brought forward before its reactivation), the
// space stays in maintenance throughout and is not checked over HTTP: its web server
// shows the "space deactivated" page until SetDeactivated takes it back.
func (s *space) upgradeTo(ctx workflow.Context, target string, inService bool) (SpaceUpgradeReport, string, error) {
	logger := workflow.GetLogger(ctx)
	req := UpgradeSpaceRequest{Target: target}
	rep := SpaceUpgradeReport{From: s.st.NextcloudVersion, To: req.Target}
	logger.Info("Upgrading space", "slug", s.in.Slug, "from", s.st.NextcloudVersion, "to", req.Target)
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem, Action: ActionUpgradeStarted,
		Reason: s.st.NextcloudVersion + " → " + req.Target}); err != nil {
		return rep, "", err
	}

	forgiveLosses := workflow.GetVersion(ctx, upgradeWorkerLossChange, workflow.DefaultVersion, 1) >= 1
	local := workflow.GetVersion(ctx, upgradeLocalStepsChange, workflow.DefaultVersion, 1) == 1
	step := func(actx workflow.Context, in nextcloud.UpgradeStepInput) (nextcloud.UpgradeStepResult, error) {
		for lost := 0; ; lost++ {
			res, err := s.runUpgradeStep(actx, local, in)
			if err == nil || !forgiveLosses || lost == upgradeWorkerLosses || !workerLost(err) {
				return res, err
			}
			logger.Warn("Upgrade step lost its worker at every attempt: tried again", "slug", s.in.Slug,
				"step", in.Step, "losses", lost+1)
		}
	}
	try := upgradeStepContext(ctx, &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: upgradeAttempts,
		NonRetryableErrorTypes: []string{nextcloud.ErrTypePermanent}})
	// Undoing must work whatever happens, even if the workflow is being cancelled.
	must, _ := workflow.NewDisconnectedContext(ctx)
	must = upgradeStepContext(must, &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute})

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
		back := []nextcloud.UpgradeStepInput{
			{Step: nextcloud.UpgradeStepSwitchCode, Version: rep.From},
			{Step: nextcloud.UpgradeStepMaintenance, On: false},
			{Step: nextcloud.UpgradeStepCron, On: true},
		}
		if !inService {
			back = slices.Delete(back, 1, 2) // it stays deactivated, in maintenance
		}
		for _, in := range back {
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
	if inService {
		if _, err := step(must, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: false}); err != nil {
			return rep, "", err
		}
	}
	up := workflow.Now(ctx)
	if inService && workflow.GetVersion(ctx, upgradeWebCheckChange, workflow.DefaultVersion, 1) == 1 {
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

// reactivateCatchUpChange names the change that brings a deactivated space to the
// release of the fleet upgrades it missed before it is back in service.
const reactivateCatchUpChange = "reactivate-catch-up"

// catchUp upgrades a deactivated space, still out of service, to the target of the
// latest fleet upgrade that left it out, through each major in between whose code base
// is present; each release's shared apps are prepared first. It never keeps the space
// from its reactivation: when the space cannot move (a major without a code base, apps
// that cannot be prepared) or its upgrade fails and is rolled back, the timeline says
// so and the space comes back on its release. It returns the snapshot to drop once the
// space is in service.
func (s *space) catchUp(ctx workflow.Context) (string, error) {
	logger := workflow.GetLogger(ctx)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	var dba *database.Activities
	var missed database.MissedUpgradeResult
	if err := workflow.ExecuteLocalActivity(lctx, dba.MissedUpgrade, database.MissedUpgradeInput{Slug: s.in.Slug}).Get(ctx, &missed); err != nil {
		logger.Error("Upgrades missed unreadable; reactivated on its release", "slug", s.in.Slug, "error", err)
		return "", nil
	}
	from, target := s.st.NextcloudVersion, missed.Target
	if target == "" || !nextcloud.VersionLess(from, target) {
		return "", nil
	}
	cannot := func(why string) (string, error) {
		logger.Warn("Reactivated space left behind", "slug", s.in.Slug, "from", from, "to", target, "reason", why)
		return "", s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem,
			Action: ActionUpgradeFailed, Reason: fmt.Sprintf("%s → %s : %s", from, target, why)})
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute, // the apps of a release downloaded and unpacked
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: upgradeAttempts,
			NonRetryableErrorTypes: []string{nextcloud.ErrTypePermanent, nextcloud.ErrTypeNoAppRelease}},
	})
	var na *nextcloud.Activities
	path := []string{target}
	if nextcloud.CheckUpgrade(from, target) != nil {
		var bases nextcloud.CodeBasesResult
		if err := workflow.ExecuteActivity(workflow.WithStartToCloseTimeout(actx, nextcloudShortTimeout), na.ListCodeBases,
			nextcloud.CodeBasesInput{}).Get(ctx, &bases); err != nil {
			return cannot("les bases de code n'ont pas pu être listées : " + failureMessage(err))
		}
		through, missing := walkPath(from, target, bases.Versions)
		if len(missing) > 0 {
			return cannot("version(s) manquante(s) : " + strings.Join(missing, ", ") + " (aucune base de code installée)")
		}
		path = append(through, target)
	}
	for _, v := range path {
		if err := workflow.ExecuteActivity(actx, na.PrepareSharedApps, nextcloud.PrepareAppsInput{Version: v}).Get(ctx, nil); err != nil {
			return cannot(fmt.Sprintf("les applications approuvées de %s n'ont pas pu être préparées : %s", v, failureMessage(err)))
		}
	}
	logger.Info("Reactivated space brought to the fleet's release first", "slug", s.in.Slug, "from", from, "path", path)
	rep, snapshot, err := s.walk(ctx, path, false)
	if err != nil || rep.Outcome != SpaceUpgraded {
		return "", err // a failure is rolled back and recorded by upgradeTo
	}
	return snapshot, nil
}
