package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// Business rules of fleet upgrades.
const (
	// minFinishedForRatio: the failure ratio is judged only after this many spaces, so
	// that one early failure does not pause a large rollout by itself.
	minFinishedForRatio = 5
	// spaceAnswerTimeout: a space that has not answered by then counts as failed, and
	// the rollout goes on; its own workflow still finishes or rolls back its upgrade.
	spaceAnswerTimeout = 2 * time.Hour
	// upgradeTick is how often the fleet upgrade looks for spaces that do not answer.
	upgradeTick = 5 * time.Minute
	// upgradeHistoryLimit: past this many events the fleet upgrade continues as new.
	upgradeHistoryLimit = 20_000
	// projectBatch is how many rows of the upgrade's space list one activity writes.
	projectBatch = 1000
)

// FleetUpgradeWorkflow upgrades every space that can go to the target version: a
// canary set first, one at a time, then waves with bounded concurrency. It pauses by
// itself when a canary fails or failures pass the threshold; admins pause, resume and
// abort it. Each space upgrades inside its own workflow.
func FleetUpgradeWorkflow(ctx workflow.Context, in FleetUpgradeInput) (UpgradeProgress, error) {
	f := &fleet{in: in}
	if err := f.register(ctx); err != nil {
		return UpgradeProgress{}, err
	}
	if in.State != nil {
		f.st = *in.State
		f.in.State = nil
	} else {
		// Upgrades started before the shared apps neither prepared them nor walked spaces
		// through the majors in between.
		f.walk = workflow.GetVersion(ctx, fleetPrepareChange, workflow.DefaultVersion, 1) == 1
		if f.walk {
			// Running from the start: the progress query answers it while the apps are
			// prepared, and an admin may pause or abort it meanwhile.
			f.st = FleetUpgradeState{Status: UpgradeRunning, Running: map[string]time.Time{}, StartedAt: workflow.Now(ctx)}
			if err := f.prepare(ctx); err != nil {
				return f.fail(ctx, err)
			}
		}
		if err := f.plan(ctx); err != nil {
			return UpgradeProgress{}, err
		}
	}
	return f.run(ctx)
}

// fleetPrepareChange names the change (workflow.GetVersion) of the fleet upgrades that
// prepare the target's shared apps before any space is touched, and send the spaces
// more than one major behind through each major whose code base is present.
const fleetPrepareChange = "fleet-prepare-apps"

// fleet is the state of one fleet upgrade.
type fleet struct {
	in FleetUpgradeInput
	st FleetUpgradeState
	// walk is set in upgrades that prepare the shared apps and walk spaces through the
	// majors (fleetPrepareChange); bases are the code bases present, and prepared the
	// outcome of each release's apps, as the planning prepares them.
	walk     bool
	bases    []string
	prepared map[string]error
}

// prepare is the first step of an upgrade: the code bases present, and the shared apps
// of the target, before any space is touched. An approved app without a release for
// the target stops the upgrade there.
func (f *fleet) prepare(ctx workflow.Context) error {
	lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: nextcloudShortTimeout, // one listing of the code root
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: upgradeAttempts},
	})
	var na *nextcloud.Activities
	var bases nextcloud.CodeBasesResult
	if err := workflow.ExecuteActivity(lctx, na.ListCodeBases, nextcloud.CodeBasesInput{}).Get(ctx, &bases); err != nil {
		return fmt.Errorf("les bases de code n'ont pas pu être listées : %s", failureMessage(err))
	}
	f.bases = bases.Versions
	if err := f.prepareApps(ctx, f.in.Target); err != nil {
		return fmt.Errorf("les applications approuvées de %s n'ont pas pu être préparées : %s", f.in.Target, failureMessage(err))
	}
	return nil
}

// prepareApps prepares the shared apps of version once per upgrade.
func (f *fleet) prepareApps(ctx workflow.Context, version string) error {
	if err, done := f.prepared[version]; done {
		return err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute, // every approved app downloaded and unpacked
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: upgradeAttempts,
			NonRetryableErrorTypes: []string{nextcloud.ErrTypePermanent, nextcloud.ErrTypeNoAppRelease}},
	})
	var na *nextcloud.Activities
	err := workflow.ExecuteActivity(actx, na.PrepareSharedApps, nextcloud.PrepareAppsInput{Version: version}).Get(ctx, nil)
	if f.prepared == nil {
		f.prepared = map[string]error{}
	}
	f.prepared[version] = err
	return err
}

// fail ends an upgrade that could not start: no space was touched.
func (f *fleet) fail(ctx workflow.Context, err error) (UpgradeProgress, error) {
	f.st = FleetUpgradeState{Status: UpgradeFailed, PauseReason: err.Error(), StartedAt: workflow.Now(ctx),
		Running: map[string]time.Time{}}
	workflow.GetLogger(ctx).Error("Fleet upgrade stopped before any space", "target", f.in.Target, "error", err)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return UpgradeProgress{}, err
	}
	return f.progress(workflow.Now(ctx)), nil
}

// walkThrough is how a space at from, more than one major behind the target, gets
// there: through the latest code base present of each major in between, each
// release's apps prepared. It returns the majors without a code base, or why a
// release's apps could not be prepared.
func (f *fleet) walkThrough(ctx workflow.Context, from string) (through, missing []string, err error) {
	through, missing = walkPath(from, f.in.Target, f.bases)
	if len(missing) > 0 {
		return nil, missing, nil
	}
	for _, v := range through {
		if err := f.prepareApps(ctx, v); err != nil {
			return nil, nil, fmt.Errorf("les applications approuvées de %s n'ont pas pu être préparées : %s", v, failureMessage(err))
		}
	}
	return through, nil, nil
}

// walkPath lists, for a space at from, the releases it goes through before target:
// the latest of bases (in version order) of each major in between; and the majors
// in between that have none.
func walkPath(from, target string, bases []string) (through, missing []string) {
	fm, err1 := nextcloud.Major(from)
	tm, err2 := nextcloud.Major(target)
	if err1 != nil || err2 != nil {
		return nil, nil
	}
	for m := fm + 1; m < tm; m++ {
		latest := ""
		for _, b := range bases {
			if bm, err := nextcloud.Major(b); err == nil && bm == m {
				latest = b
			}
		}
		if latest == "" {
			missing = append(missing, strconv.Itoa(m))
			continue
		}
		through = append(through, latest)
	}
	return through, missing
}

func (f *fleet) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryUpgradeProgress, func() (UpgradeProgress, error) {
		return f.progress(workflow.Now(ctx)), nil
	}); err != nil {
		return fmt.Errorf("register progress query: %w", err)
	}
	controls := map[string]struct {
		from []string
		to   string
	}{
		UpdateUpgradePause:  {[]string{UpgradeRunning}, UpgradePaused},
		UpdateUpgradeResume: {[]string{UpgradePaused}, UpgradeRunning},
		UpdateUpgradeAbort:  {[]string{UpgradeRunning, UpgradePaused}, UpgradeAborted},
	}
	for _, name := range workflow.DeterministicKeys(controls) {
		c := controls[name]
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, in UpgradeControlInput) (UpgradeControlResult, error) {
				f.st.Status, f.st.PauseReason = c.to, ""
				if c.to == UpgradePaused {
					f.st.PauseReason = fmt.Sprintf("mise en pause par %s : %s", in.Actor, in.Reason)
				}
				workflow.GetLogger(ctx).Info("Fleet upgrade control", "control", name, "actor", in.Actor, "reason", in.Reason)
				return UpgradeControlResult{Status: f.st.Status}, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in UpgradeControlInput) error {
				if in.Actor == "" {
					return refuseField("actor", "l'auteur est obligatoire")
				}
				if !slices.Contains(c.from, f.st.Status) {
					return refuse(ErrTypeNotAllowed, "la mise à jour est à l'état %s : « %s » n'est pas possible", f.st.Status, name)
				}
				return nil
			}})
		if err != nil {
			return fmt.Errorf("register %s update: %w", name, err)
		}
	}
	return nil
}

// plan reads the spaces and sorts them: included (canaries first), refused with the
// steps they need, or left out (deactivated, being deleted...).
func (f *fleet) plan(ctx workflow.Context) error {
	if f.st.Status == "" {
		f.st = FleetUpgradeState{Status: UpgradeRunning, Running: map[string]time.Time{}, StartedAt: workflow.Now(ctx)}
	}
	if f.walk {
		f.st.Through = map[string][]string{}
	}
	// One query of the spaces, and batches of a thousand rows.
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var dba *database.Activities
	var spaces database.ListSpacesResult
	if err := workflow.ExecuteActivity(actx, dba.ListSpaces, database.ListSpacesInput{}).Get(ctx, &spaces); err != nil {
		return fmt.Errorf("list spaces: %w", err)
	}
	var rows []database.UpgradeSpaceRow
	var included []string
	for _, sp := range spaces.Spaces {
		row := database.UpgradeSpaceRow{Slug: sp.Slug, From: sp.Version, To: f.in.Target}
		switch {
		case sp.Status != models.StatusActive:
			row.Status, row.Error = models.UpgradeSpaceSkipped, "état "+string(sp.Status)
			f.st.Skipped++
		case sp.Version == f.in.Target:
			continue // already there
		default:
			if err := nextcloud.CheckUpgrade(sp.Version, f.in.Target); err != nil {
				steps := upgradeSteps(sp.Version, f.in.Target)
				if f.walk && len(steps) > 0 {
					through, missing, werr := f.walkThrough(ctx, sp.Version)
					if len(missing) == 0 && werr == nil {
						// Each major in turn, inside the space's own upgrade.
						f.st.Through[sp.Slug] = through
						row.Status = models.UpgradeSpacePending
						included = append(included, sp.Slug)
						rows = append(rows, row)
						continue
					}
					f.st.Refused = append(f.st.Refused, RefusedSpace{Slug: sp.Slug, Version: sp.Version, Steps: steps, Missing: missing})
					row.Status = models.UpgradeSpaceRefused
					if werr != nil {
						row.Error = werr.Error()
					} else {
						row.Error = "version(s) manquante(s) : " + strings.Join(missing, ", ") + " (aucune base de code installée)"
					}
					rows = append(rows, row)
					continue
				}
				f.st.Refused = append(f.st.Refused, RefusedSpace{Slug: sp.Slug, Version: sp.Version, Steps: steps})
				row.Status, row.Error = models.UpgradeSpaceRefused, err.Error()
				if len(steps) > 0 {
					row.Error = "passer d'abord par " + strings.Join(steps, " puis ")
				}
			} else {
				row.Status = models.UpgradeSpacePending
				included = append(included, sp.Slug)
			}
		}
		rows = append(rows, row)
	}
	canaries := f.in.CanarySlugs
	if len(canaries) == 0 {
		canaries = included[:min(f.in.Canary, len(included))]
	}
	f.st.Canaries = nil
	for _, c := range canaries {
		if slices.Contains(included, c) {
			f.st.Canaries = append(f.st.Canaries, c)
		}
	}
	f.st.Pending = append(slices.Clone(f.st.Canaries), slices.DeleteFunc(included, func(s string) bool {
		return slices.Contains(f.st.Canaries, s)
	})...)
	for i := 0; i < len(rows); i += projectBatch {
		batch := rows[i:min(len(rows), i+projectBatch)]
		if err := workflow.ExecuteActivity(actx, dba.RecordUpgradeSpaces, database.RecordUpgradeSpacesInput{
			UpgradeID: f.in.ID, Rows: batch}).Get(ctx, nil); err != nil {
			return fmt.Errorf("record upgrade spaces: %w", err)
		}
	}
	workflow.GetLogger(ctx).Info("Fleet upgrade planned", "target", f.in.Target, "included", len(f.st.Pending),
		"canaries", len(f.st.Canaries), "refused", len(f.st.Refused), "left_out", f.st.Skipped)
	return nil
}

// upgradeSteps lists the versions a space must go through before target: every major
// in between, then target itself.
func upgradeSteps(from, target string) []string {
	fm, err1 := strconv.Atoi(strings.SplitN(from, ".", 2)[0])
	tm, err2 := strconv.Atoi(strings.SplitN(target, ".", 2)[0])
	if err1 != nil || err2 != nil || tm <= fm+1 {
		return nil
	}
	var steps []string
	for m := fm + 1; m < tm; m++ {
		steps = append(steps, strconv.Itoa(m))
	}
	return append(steps, target)
}

func (f *fleet) run(ctx workflow.Context) (UpgradeProgress, error) {
	logger := workflow.GetLogger(ctx)
	reports := workflow.GetSignalChannel(ctx, SignalSpaceUpgraded)
	for {
		f.receive(ctx, reports)
		if f.st.Status == UpgradeAborted && len(f.st.Running) == 0 {
			break
		}
		if len(f.st.Pending) == 0 && len(f.st.Running) == 0 {
			f.st.Status = UpgradeDone
			break
		}
		if err := f.startSpaces(ctx); err != nil {
			return UpgradeProgress{}, err
		}
		if len(f.st.Pending) == 0 && len(f.st.Running) == 0 && f.refillsGone(ctx) {
			continue // every space answered or was gone: over now, not at the next tick
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > upgradeHistoryLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return UpgradeProgress{}, f.continueAsNew(ctx, reports)
		}
		status := f.st.Status
		if _, err := workflow.AwaitWithOptions(ctx, waitAnswers(upgradeTick, "des espaces en cours de mise à niveau"), func() bool {
			return reports.Len() > 0 || f.st.Status != status
		}); err != nil {
			return UpgradeProgress{}, err
		}
		f.expire(ctx)
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return UpgradeProgress{}, err
	}
	p := f.progress(workflow.Now(ctx))
	logger.Info("Fleet upgrade over", "status", p.Status, "upgraded", p.Upgraded, "failed", p.Failed, "skipped", p.Skipped)
	return p, nil
}

// inCanary reports whether canaries are still to finish: until then one space at a time.
func (f *fleet) inCanary() bool {
	for _, c := range f.st.Canaries {
		if _, running := f.st.Running[c]; running || slices.Contains(f.st.Pending, c) {
			return true
		}
	}
	return false
}

// refillsGone reports whether the slot of a space found gone (its workflow deleted or
// missing) goes to the next space at once. Rollouts started before waited for the
// next tick, with nothing running.
func (f *fleet) refillsGone(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, "fleet-refill-gone", workflow.DefaultVersion, 1) == 1
}

// startSpaces asks spaces to upgrade while the rollout runs and slots are free, wave
// after wave as long as spaces of the last one turn out gone.
func (f *fleet) startSpaces(ctx workflow.Context) error {
	refill := f.refillsGone(ctx)
	for {
		gone, err := f.startWave(ctx)
		if err != nil || gone == 0 || !refill {
			return err
		}
	}
}

// startWave asks spaces to upgrade while the rollout runs and slots are free, and
// returns how many turned out gone. The signals go out together, in one workflow task.
func (f *fleet) startWave(ctx workflow.Context) (gone int, err error) {
	limit := max(f.in.Concurrency, 1)
	if f.inCanary() {
		limit = 1
	}
	type sent struct {
		slug   string
		future workflow.Future
	}
	// Upgrades started before signals went out together waited for each one.
	together := workflow.GetVersion(ctx, "fleet-signals-together", workflow.DefaultVersion, 1) == 1
	var signals []sent
	for f.st.Status == UpgradeRunning && len(f.st.Running)+len(signals) < limit && len(f.st.Pending) > 0 {
		slug := f.st.Pending[0]
		f.st.Pending = f.st.Pending[1:]
		req := UpgradeSpaceRequest{UpgradeID: workflow.GetInfo(ctx).WorkflowExecution.ID, Target: f.in.Target,
			Through: f.st.Through[slug]}
		future := workflow.SignalExternalWorkflow(ctx, SpaceWorkflowID(slug), "", SignalUpgradeSpace, req)
		if !together {
			_ = future.Get(ctx, nil) // the error is read again below
		}
		signals = append(signals, sent{slug, future})
	}
	now := workflow.Now(ctx)
	var rows []database.UpgradeSpaceRow
	for _, sig := range signals {
		if err := sig.future.Get(ctx, nil); err != nil {
			gone++
			f.st.Skipped++
			rows = append(rows, database.UpgradeSpaceRow{Slug: sig.slug, Status: models.UpgradeSpaceSkipped, Error: "espace introuvable : " + err.Error()})
			continue
		}
		f.st.Running[sig.slug] = now
		rows = append(rows, database.UpgradeSpaceRow{Slug: sig.slug, Status: models.UpgradeSpaceRunning})
	}
	return gone, f.project(ctx, rows)
}

// receive takes the spaces' reports.
func (f *fleet) receive(ctx workflow.Context, reports workflow.ReceiveChannel) {
	var rows []database.UpgradeSpaceRow
	for {
		var rep SpaceUpgradeReport
		if !reports.ReceiveAsync(&rep) {
			break
		}
		if _, ok := f.st.Running[rep.Slug]; !ok {
			continue // late answer of a space already counted as failed
		}
		delete(f.st.Running, rep.Slug)
		rows = append(rows, f.account(rep))
	}
	f.project(ctx, rows)
}

// account counts one space's outcome and pauses the rollout when it must.
func (f *fleet) account(rep SpaceUpgradeReport) database.UpgradeSpaceRow {
	row := database.UpgradeSpaceRow{Slug: rep.Slug, Status: rep.Outcome, From: rep.From, To: rep.To,
		DowntimeMS: rep.Downtime.Milliseconds(), Error: rep.Error}
	switch rep.Outcome {
	case SpaceUpgraded:
		f.st.Upgraded++
		f.st.Downtimes = append(f.st.Downtimes, rep.Downtime)
	case SpaceSkipped:
		f.st.Skipped++
	default:
		row.Status = SpaceUpgradeFailed
		f.st.Failed++
		if slices.Contains(f.st.Canaries, rep.Slug) && f.st.Status == UpgradeRunning {
			f.st.Status, f.st.PauseReason = UpgradePaused, "échec sur un espace témoin ("+rep.Slug+") : "+rep.Error
		}
	}
	finished := f.st.Upgraded + f.st.Failed
	if f.st.Status == UpgradeRunning && finished >= minFinishedForRatio && f.in.MaxFailureRatio > 0 &&
		float64(f.st.Failed)/float64(finished) > f.in.MaxFailureRatio {
		f.st.Status = UpgradePaused
		f.st.PauseReason = fmt.Sprintf("seuil d'échecs dépassé : %d sur %d", f.st.Failed, finished)
	}
	return row
}

// expire counts spaces that have not answered for too long as failed.
func (f *fleet) expire(ctx workflow.Context) {
	now := workflow.Now(ctx)
	var rows []database.UpgradeSpaceRow
	for _, slug := range workflow.DeterministicKeys(f.st.Running) {
		if now.Sub(f.st.Running[slug]) > spaceAnswerTimeout {
			delete(f.st.Running, slug)
			rows = append(rows, f.account(SpaceUpgradeReport{Slug: slug, Outcome: SpaceUpgradeFailed,
				Error: "pas de réponse de l'espace"}))
		}
	}
	f.project(ctx, rows)
}

// project writes rows of the upgrade's space list; the list is a view, so a failure to
// write it is logged and does not stop the rollout.
func (f *fleet) project(ctx workflow.Context, rows []database.UpgradeSpaceRow) error {
	if len(rows) == 0 {
		return nil
	}
	lctx := fleetDBContext(ctx)
	var dba *database.Activities
	if err := workflow.ExecuteLocalActivity(lctx, dba.RecordUpgradeSpaces, database.RecordUpgradeSpacesInput{
		UpgradeID: f.in.ID, Rows: rows}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("Upgrade space list not updated", "error", err)
	}
	return nil
}

func (f *fleet) continueAsNew(ctx workflow.Context, reports workflow.ReceiveChannel) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	f.receive(ctx, reports) // signals would not survive the new run
	in := f.in
	st := f.st
	in.State = &st
	return workflow.NewContinueAsNewError(ctx, FleetUpgradeWorkflow, in)
}

// progress is what the query answers.
func (f *fleet) progress(now time.Time) UpgradeProgress {
	p := UpgradeProgress{ID: f.in.ID, Target: f.in.Target, Status: f.st.Status, PauseReason: f.st.PauseReason,
		Upgraded: f.st.Upgraded, Failed: f.st.Failed, Skipped: f.st.Skipped, Running: len(f.st.Running),
		Remaining: len(f.st.Pending), Refused: f.st.Refused, StartedAt: f.st.StartedAt}
	p.Total = p.Upgraded + p.Failed + p.Running + p.Remaining
	p.DowntimeP50, p.DowntimeP95 = models.Percentile(f.st.Downtimes, 50), models.Percentile(f.st.Downtimes, 95)
	if finished := p.Upgraded + p.Failed; finished > 0 && p.Status == UpgradeRunning {
		perSpace := now.Sub(f.st.StartedAt) / time.Duration(finished)
		p.EstimatedEnd = now.Add(perSpace * time.Duration(p.Remaining+p.Running))
	}
	return p
}
