package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/backup"
	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
)

// restoreChange names the change that lets a space workflow restore the space
// (UpdateRestore).
const restoreChange = "restore"

// RestoreWindow is how far back a space can be restored: its files' old versions
// expire after storage.NoncurrentVersionDays, its nightly backups after 30 days.
const RestoreWindow = storage.NoncurrentVersionDays * 24 * time.Hour

// restoreTimeout bounds a restore's long steps: a dump, a pg_restore, the copy of
// every object changed, a file scan of 100,000 files. Each heartbeats.
const restoreTimeout = 2 * time.Hour

// restoreRequest is a restore waiting for the main loop, and its answer.
type restoreRequest struct {
	in     RestoreInput
	result RestoreResult
	err    error
}

// registerRestoreHandler registers UpdateRestore: the restore goes through the main
// loop as the other actions do, so that nothing else happens to the space meanwhile.
func (s *space) registerRestoreHandler(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRestore,
		func(ctx workflow.Context, in RestoreInput) (RestoreResult, error) {
			r := &restoreRequest{in: in}
			s.restoring = r
			a := &action{update: UpdateRestore, in: ActionInput{Actor: in.Actor, Reason: in.Reason}}
			if err := s.enqueue(ctx, a); err != nil {
				return RestoreResult{}, err
			}
			return r.result, r.err
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in RestoreInput) error {
			return s.validateRestore(ctx, in)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateRestore, err)
	}
	return nil
}

// validateRestore refuses a restore without author or reason, to a time outside the
// last RestoreWindow, of a space not in service, or while another action runs.
func (s *space) validateRestore(ctx workflow.Context, in RestoreInput) error {
	now := workflow.Now(ctx)
	switch {
	case in.Actor == "":
		return refuseField("actor", "l'auteur de la restauration est obligatoire")
	case in.Reason == "":
		return refuseField("reason", "la raison est obligatoire")
	case in.At.IsZero():
		return refuseField("at", "la date à laquelle restaurer l'espace est obligatoire")
	case !in.At.Before(now):
		return refuseField("at", "la date doit être passée")
	case now.Sub(in.At) > RestoreWindow:
		return refuseField("at", "l'espace ne peut être restauré qu'à une date des %d derniers jours", int(RestoreWindow/(24*time.Hour)))
	case s.st.Status != models.StatusActive:
		return refuse(ErrTypeNotAllowed, "seul un espace en service peut être restauré (l'espace %q est à l'état %s)", s.in.Slug, s.st.Status)
	case s.busy():
		return refuse(ErrTypeBusy, "une autre action est en cours sur cet espace, réessayez dans un instant")
	}
	return checkReason(in.Reason)
}

// restore puts the space back as it was at the time asked, as the newest backup taken
// by then holds it: maintenance on, a dump of the database as it is now (so that the
// restore can be undone), that backup restored, every object put back to its version
// of the backup's time (objects created since get delete markers), Nextcloud's file
// cache checked, maintenance off;
// the timeline and the contact's mail say what was done. A dry run only says what
// would change. A failure leaves the space out of maintenance and is the update's
// answer; only a failure to record ends the run.
func (s *space) restore(ctx workflow.Context) error {
	r := s.restoring
	s.restoring = nil
	if r == nil {
		return nil
	}
	workflow.GetVersion(ctx, restoreChange, workflow.DefaultVersion, 1)
	logger := workflow.GetLogger(ctx)
	in := r.in
	r.result.DryRun = in.DryRun
	long := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: restoreTimeout,
		HeartbeatTimeout:    backupHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{backup.ErrTypeNoBackup, nextcloud.ErrTypePermanent, storage.ErrTypeInvalidBucket}},
	})
	must, _ := workflow.NewDisconnectedContext(ctx)
	must = workflow.WithActivityOptions(must, workflow.ActivityOptions{
		StartToCloseTimeout: nextcloudShortTimeout,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute},
	})
	var (
		ba *backup.Activities
		sa *storage.Activities
		na *nextcloud.Activities
	)
	restoreDB := func(dry bool) error {
		var res backup.RestoreDatabaseResult
		err := workflow.ExecuteActivity(long, ba.RestoreDatabase, backup.RestoreDatabaseInput{Slug: s.in.Slug, At: in.At, DryRun: dry}).Get(ctx, &res)
		r.result.BackupKey, r.result.BackupTakenAt = res.Key, res.TakenAt
		return err
	}
	// The files go back to the time of the database backup, not to in.At: Nextcloud's
	// file cache, in the database, names every object with its size and checksum, and
	// must find them as it knew them. A file written between the backup and in.At would
	// otherwise be served with the size of another version.
	restoreFiles := func(dry bool) error {
		var res storage.RestoreObjectsResult
		err := workflow.ExecuteActivity(long, sa.RestoreObjects, storage.RestoreObjectsInput{Bucket: s.in.Bucket,
			At: r.result.BackupTakenAt, DryRun: dry}).Get(ctx, &res)
		r.result.FilesRestored, r.result.FilesRemoved, r.result.FilesUnchanged = res.Restored, res.Removed, res.Unchanged
		r.result.Changes = r.result.Changes[:0]
		for _, ch := range res.Changes {
			r.result.Changes = append(r.result.Changes, RestoreChange{Key: ch.Key, Action: ch.Action})
		}
		return err
	}
	// Which backup, before anything changes: none that old, and nothing is done.
	if err := restoreDB(true); err != nil {
		r.err = err
		return nil
	}
	if in.DryRun {
		r.err = restoreFiles(true)
		return nil
	}

	logger.Info("Restoring space", "slug", s.in.Slug, "at", in.At, "backup", r.result.BackupKey)
	maintenance := func(on bool) error {
		return workflow.ExecuteActivity(must, na.RunUpgradeStep, nextcloud.UpgradeStepInput{Slug: s.in.Slug,
			Step: nextcloud.UpgradeStepMaintenance, On: on}).Get(ctx, nil)
	}
	if err := maintenance(true); err != nil {
		return err
	}
	var snap backup.DumpResult
	err := func() error {
		if err := workflow.ExecuteActivity(long, ba.DumpSpace, backup.DumpInput{Slug: s.in.Slug, Kind: models.BackupSnapshot,
			At: workflow.Now(ctx)}).Get(ctx, &snap); err != nil {
			return err
		}
		r.result.Snapshot = snap.Key
		if err := restoreDB(false); err != nil {
			return err
		}
		if err := restoreFiles(false); err != nil {
			return err
		}
		var scan nextcloud.ScanFilesResult
		if err := workflow.ExecuteActivity(long, na.ScanSpaceFiles, nextcloud.ScanFilesInput{Slug: s.in.Slug}).Get(ctx, &scan); err != nil {
			// The data are back; a cache out of step shows files wrongly until the
			// next scan (cron runs one), and must not keep the space down.
			r.result.FileCacheErrors = failureMessage(err)
		}
		return nil
	}()
	if err != nil && r.result.Snapshot != "" {
		// Failed half-way: the database may be empty, some files put back. The space
		// goes back to the snapshot taken just before, retried until it works, and only
		// then leaves maintenance.
		undo, _ := workflow.NewDisconnectedContext(ctx)
		undo = workflow.WithActivityOptions(undo, workflow.ActivityOptions{
			StartToCloseTimeout: restoreTimeout,
			HeartbeatTimeout:    backupHeartbeatTimeout,
			RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute},
		})
		logger.Error("Restore failed, back to the snapshot", "slug", s.in.Slug, "snapshot", snap.Key, "error", err)
		if uerr := workflow.ExecuteActivity(undo, ba.RestoreDatabase, backup.RestoreDatabaseInput{Slug: s.in.Slug,
			At: snap.TakenAt}).Get(ctx, nil); uerr != nil {
			return uerr
		}
		if uerr := workflow.ExecuteActivity(undo, sa.RestoreObjects, storage.RestoreObjectsInput{Bucket: s.in.Bucket,
			At: snap.TakenAt}).Get(ctx, nil); uerr != nil {
			return uerr
		}
	}
	if merr := maintenance(false); merr != nil {
		return merr
	}
	if err != nil {
		r.err = err
		logger.Error("Restore failed", "slug", s.in.Slug, "error", err)
		return s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: in.Actor, Action: ActionRestoreFailed,
			Reason: fmt.Sprintf("%s — état du %s : %s", in.Reason, formatUTC(in.At), failureMessage(err))})
	}
	summary := fmt.Sprintf("état du %s demandé, état de la dernière sauvegarde d'avant, du %s, remis : base de données, %d fichiers remis dans leur version d'alors, %d fichiers créés depuis retirés",
		formatUTC(in.At), formatUTC(r.result.BackupTakenAt), r.result.FilesRestored, r.result.FilesRemoved)
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: in.Actor, Action: ActionRestored,
		Reason: in.Reason + " — " + summary}); err != nil {
		return err
	}
	s.mail(ctx, mail.SendInput{Kind: mail.KindRestored, Seq: s.st.Seq, Actor: in.Actor, Reason: in.Reason, Detail: summary})
	return nil
}

// formatUTC writes a time for the timeline and the mails' summaries.
func formatUTC(t time.Time) string { return t.UTC().Format("02/01/2006 15:04:05 UTC") }
