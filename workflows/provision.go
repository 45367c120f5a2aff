package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
)

// AdminUser is the login of the first admin of every space.
const AdminUser = "admin"

// provisionAttempts bounds the retries of one provisioning step: past that a failure is
// taken as permanent and everything done so far is undone. With the backoff below (1 s
// doubling up to 1 min) the waits between its attempts add up to 1+2+4+8+16+32+60+60+60
// s, about 4 minutes (deploy/nextcloud.md): long enough for a dependency to restart or
// the app store to come back without failing the space.
const provisionAttempts = 10

// provision creates the space: bucket, database, instance, admin, limits, apps. It is
// a saga: on a permanent failure every step already done is undone, so nothing is left
// behind, and the error is returned. The admin's password comes back sealed.
func (s *space) provision(ctx workflow.Context) (adminUser string, password models.Sealed, err error) {
	logger := workflow.GetLogger(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute, // an install on a loaded node takes a few minutes
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        provisionAttempts,
			NonRetryableErrorTypes: []string{nextcloud.ErrTypePermanent, storage.ErrTypeInvalidBucket, storage.ErrTypeBucketTaken},
		},
	})
	// One S3 call, that does not heartbeat; and single occ commands or queries.
	bucketCtx := workflow.WithStartToCloseTimeout(workflow.WithHeartbeatTimeout(actx, 0), time.Minute)
	shortCtx := workflow.WithStartToCloseTimeout(actx, nextcloudShortTimeout)
	var (
		sa *storage.Activities
		na *nextcloud.Activities
	)
	var undo []func(workflow.Context) error
	defer func() {
		if err == nil {
			return
		}
		// Undo in reverse order, even if the workflow is being cancelled, and until it
		// works: leaving a bucket or a database behind is the failure to avoid.
		uctx, _ := workflow.NewDisconnectedContext(ctx)
		uctx = workflow.WithActivityOptions(uctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Minute, // emptying a large bucket; it heartbeats
			HeartbeatTimeout:    bucketHeartbeatTimeout,
			RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute},
		})
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](uctx); uerr != nil {
				logger.Error("Undo of provisioning failed", "slug", s.in.Slug, "error", uerr)
			}
		}
	}()

	if err = workflow.ExecuteActivity(bucketCtx, sa.CreateBucket, storage.CreateBucketInput{Bucket: s.in.Bucket}).Get(ctx, nil); err != nil {
		// An attempt may have created it before the last one failed: delete it, unless
		// the name was refused or belongs to someone else, where nothing was created and
		// nothing of ours is there to delete.
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || (appErr.Type() != storage.ErrTypeInvalidBucket && appErr.Type() != storage.ErrTypeBucketTaken) {
			undo = append(undo, s.deleteBucket)
		}
		return "", "", err
	}
	undo = append(undo, s.deleteBucket)
	s.enableFileHistory(ctx, bucketCtx)

	// The instance's removal also drops its database, so one undo covers both steps.
	undo = append(undo, func(uctx workflow.Context) error {
		return workflow.ExecuteActivity(uctx, na.RemoveSpace, nextcloud.RemoveInput{Slug: s.in.Slug}).Get(uctx, nil)
	})
	if err = workflow.ExecuteActivity(shortCtx, na.CreateSpaceDatabase, nextcloud.CreateDatabaseInput{Slug: s.in.Slug}).Get(ctx, nil); err != nil {
		return "", "", err
	}
	var installed nextcloud.InstallResult
	spec := nextcloud.InstallSpec{Slug: s.in.Slug, Domain: s.in.Domain, Version: s.in.NextcloudVersion,
		Bucket: s.in.Bucket, AdminUser: AdminUser}
	if err = workflow.ExecuteActivity(actx, na.InstallSpace, nextcloud.InstallInput{Spec: spec}).Get(ctx, &installed); err != nil {
		return "", "", err
	}
	s.st.NextcloudVersion = installed.Version
	var admin nextcloud.CreateAdminResult
	if err = workflow.ExecuteActivity(shortCtx, na.CreateSpaceAdmin, nextcloud.CreateAdminInput{Slug: s.in.Slug, AdminUser: AdminUser}).Get(ctx, &admin); err != nil {
		return "", "", err
	}
	limits, limitsVersion, err := s.provisionLimits(ctx)
	if err != nil {
		return "", "", err
	}
	if err = workflow.ExecuteActivity(shortCtx, na.ApplySpaceLimits, nextcloud.ApplyLimitsInput{Slug: s.in.Slug, Limits: limits}).Get(ctx, nil); err != nil {
		return "", "", err
	}
	if limitsVersion > 0 {
		s.st.Limits = SpaceLimits{Applied: limits, Version: limitsVersion}
		if err = s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Reason: s.st.Reason, Limits: s.limitsProjection()}); err != nil {
			return "", "", err
		}
	}
	// No list of apps: the worker enables those its configuration approves.
	if err = workflow.ExecuteActivity(actx, na.EnableSpaceApps, nextcloud.EnableAppsInput{Slug: s.in.Slug,
		OfficeSuite: s.in.OfficeSuite}).Get(ctx, nil); err != nil {
		return "", "", err
	}
	if workflow.GetVersion(ctx, changeOfficeSettings, workflow.DefaultVersion, 1) >= 1 {
		// The suite's app reaches the operator's server: the settings come from the
		// worker's configuration, the secret never into history.
		var office nextcloud.ConfigureOfficeResult
		if err = workflow.ExecuteActivity(shortCtx, na.ConfigureSpaceOffice, nextcloud.ConfigureOfficeInput{Slug: s.in.Slug,
			OfficeSuite: s.in.OfficeSuite}).Get(ctx, &office); err != nil {
			return "", "", err
		}
		s.st.OfficeSuite, s.st.OfficeFingerprint = s.in.OfficeSuite, office.Fingerprint
	}
	return admin.AdminUser, admin.Password, nil
}

// failureMessage says what went wrong, once. Temporal turns every level of a wrapped
// activity error into a failure of its own, and the Error of each repeats the text of
// those below it; the outermost application error's message already holds the whole
// chain, with its context. A local activity's error comes back as it was returned,
// inside the activity error: its own text is the message.
func failureMessage(err error) string {
	act, ok := err.(*temporal.ActivityError)
	if !ok || act.Unwrap() == nil {
		return err.Error()
	}
	if app, ok := act.Unwrap().(*temporal.ApplicationError); ok && app.Message() != "" {
		return app.Message()
	}
	if _, ok := act.Unwrap().(*temporal.TimeoutError); ok {
		return err.Error() // which activity timed out matters
	}
	return act.Unwrap().Error()
}

func (s *space) deleteBucket(uctx workflow.Context) error {
	var sa *storage.Activities
	return workflow.ExecuteActivity(uctx, sa.DeleteBucket, storage.DeleteBucketInput{Bucket: s.in.Bucket}).Get(uctx, nil)
}

// fileHistoryChange names the change that turns the file history on in a new space's
// bucket at provisioning.
const fileHistoryChange = "file-history"

// enableFileHistory turns versioning on in the new bucket, with the expiry of old
// versions. A server without those features (reported at the worker's start-up) does
// not stop the space's creation: the failure is logged, and the space has no history.
func (s *space) enableFileHistory(ctx, bucketCtx workflow.Context) {
	if workflow.GetVersion(ctx, fileHistoryChange, workflow.DefaultVersion, 1) < 1 {
		return
	}
	var sa *storage.Activities
	if err := workflow.ExecuteActivity(bucketCtx, sa.EnableFileHistory, storage.EnableFileHistoryInput{Bucket: s.in.Bucket}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("File history not set", "slug", s.in.Slug, "error", err)
	}
}
