package database_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/gorm"

	"jardinier/activities/database"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// submitted is when the test application was sent.
var submitted = time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)

// fixture is one test's database holding one application and its space row.
type fixture struct {
	db  *gorm.DB
	act *database.Activities
	app models.Application
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{db: modeltest.NewDB(t)}
	f.act = &database.Activities{DB: f.db}
	f.app = f.submit(t, "amis-du-jardin")
	return f
}

// submit stores an application and its space row, as the API does when the form is sent.
func (f *fixture) submit(t *testing.T, slug string) models.Application {
	t.Helper()
	app := modeltest.CreateApplication(t, f.db, slug, submitted)
	require.NoError(t, f.db.Create(&models.Space{Slug: slug, ApplicationID: &app.ID,
		Status: models.StatusSubmitted, OfficeSuite: app.OfficeSuite, SubmittedAt: submitted}).Error)
	return app
}

// transition is the input of the n-th transition of the fixture's application.
func (f *fixture) transition(n int, status models.Status, at time.Time) database.RecordTransitionInput {
	return database.RecordTransitionInput{
		EventKey:      fmt.Sprintf("%s/%d", f.app.ID, n),
		Slug:          f.app.Slug,
		ApplicationID: f.app.ID,
		Status:        status,
		Actor:         "camille",
		Action:        "step-" + string(status),
		Reason:        "motif " + string(status),
		At:            at,
	}
}

// environment returns a Temporal test environment running the database activities.
func (f *fixture) environment(t *testing.T) *testsuite.TestActivityEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.act)
	return env
}

// record runs RecordTransition as one attempt of the Temporal activity.
func (f *fixture) record(t *testing.T, in database.RecordTransitionInput) (database.RecordTransitionResult, error) {
	t.Helper()
	val, err := f.environment(t).ExecuteActivity(f.act.RecordTransition, in)
	if err != nil {
		return database.RecordTransitionResult{}, err
	}
	var res database.RecordTransitionResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

// purge runs PurgeApplication as one attempt of the Temporal activity.
func (f *fixture) purge(t *testing.T, app models.Application) (database.PurgeApplicationResult, error) {
	t.Helper()
	val, err := f.environment(t).ExecuteActivity(f.act.PurgeApplication,
		database.PurgeApplicationInput{Slug: app.Slug, ApplicationID: app.ID})
	if err != nil {
		return database.PurgeApplicationResult{}, err
	}
	var res database.PurgeApplicationResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

// space returns the space row holding slug.
func (f *fixture) space(t *testing.T, slug string) models.Space {
	t.Helper()
	var s models.Space
	require.NoError(t, f.db.Where("slug = ?", slug).Take(&s).Error)
	return s
}

// events returns the audit trail of slug, oldest first.
func (f *fixture) events(t *testing.T, slug string) []models.AuditEvent {
	t.Helper()
	var events []models.AuditEvent
	require.NoError(t, f.db.Where("slug = ?", slug).Order("id").Find(&events).Error)
	return events
}

func TestRecordTransition(t *testing.T) {
	// A moderator in Paris: the instant matters, not the zone it was written in.
	at := time.Date(2026, 5, 6, 14, 15, 16, 123456000, time.FixedZone("CEST", 2*3600))

	for _, tc := range []struct {
		status models.Status
		column string // the step time column the transition must set
	}{
		{models.StatusProvisioning, "decided_at"},
		{models.StatusOnHold, "decided_at"},
		{models.StatusRejected, "decided_at"},
		{models.StatusActive, "provisioned_at"},
	} {
		t.Run(fmt.Sprintf("moving to %s sets the status, the reason and %s, and appends one audit event", tc.status, tc.column), func(t *testing.T) {
			f := setup(t)
			in := f.transition(1, tc.status, at)

			res, err := f.record(t, in)
			require.NoError(t, err)
			assert.True(t, res.Recorded)

			s := f.space(t, f.app.Slug)
			assert.Equal(t, tc.status, s.Status)
			assert.Equal(t, in.Reason, s.StatusReason)
			steps := map[string]*time.Time{"decided_at": s.DecidedAt, "provisioned_at": s.ProvisionedAt,
				"deactivated_at": s.DeactivatedAt, "deleted_at": s.DeletedAt}
			for column, value := range steps {
				if column == tc.column {
					require.NotNil(t, value, column)
					assert.True(t, at.Equal(*value), "%s: want %v, got %v", column, at, *value)
				} else {
					assert.Nil(t, value, "%s must not be set by a move to %s", column, tc.status)
				}
			}

			events := f.events(t, f.app.Slug)
			require.Len(t, events, 1)
			ev := events[0]
			assert.Equal(t, in.EventKey, ev.Key)
			require.NotNil(t, ev.ApplicationID)
			assert.Equal(t, f.app.ID, *ev.ApplicationID)
			assert.Equal(t, in.Actor, ev.Actor)
			assert.Equal(t, in.Action, ev.Action)
			assert.Equal(t, in.Reason, ev.Reason)
			assert.True(t, at.Equal(ev.At), "event time: want %v, got %v", at, ev.At)
		})
	}

	t.Run("records the Nextcloud version and bucket when given, and keeps them otherwise", func(t *testing.T) {
		f := setup(t)
		in := f.transition(1, models.StatusActive, at)
		in.NextcloudVersion, in.BucketName = "31.0.9", "space-amis-du-jardin"
		_, err := f.record(t, in)
		require.NoError(t, err)

		_, err = f.record(t, f.transition(2, models.StatusDeactivated, at.Add(time.Hour)))
		require.NoError(t, err)

		s := f.space(t, f.app.Slug)
		assert.Equal(t, models.StatusDeactivated, s.Status)
		assert.Equal(t, "31.0.9", s.NextcloudVersion)
		assert.Equal(t, "space-amis-du-jardin", s.BucketName)
		require.NotNil(t, s.ProvisionedAt, "a later step keeps the time of earlier ones")
		assert.True(t, at.Equal(*s.ProvisionedAt))
	})

	t.Run("a retried transition changes nothing and reports it was already recorded", func(t *testing.T) {
		f := setup(t)
		first := f.transition(1, models.StatusProvisioning, at)
		_, err := f.record(t, first)
		require.NoError(t, err)
		want := f.space(t, f.app.Slug)

		retry := first
		retry.At = at.Add(time.Minute) // a retried attempt may carry another reason or time
		retry.Reason = "autre motif"
		res, err := f.record(t, retry)
		require.NoError(t, err)
		assert.False(t, res.Recorded)
		assert.Equal(t, want, f.space(t, f.app.Slug))
		assert.Len(t, f.events(t, f.app.Slug), 1, "no duplicate audit event")
	})

	t.Run("a late retry does not overwrite the transitions recorded since", func(t *testing.T) {
		f := setup(t)
		first := f.transition(1, models.StatusProvisioning, at)
		_, err := f.record(t, first)
		require.NoError(t, err)
		_, err = f.record(t, f.transition(2, models.StatusActive, at.Add(time.Hour)))
		require.NoError(t, err)
		want := f.space(t, f.app.Slug)

		res, err := f.record(t, first)
		require.NoError(t, err)
		assert.False(t, res.Recorded)
		got := f.space(t, f.app.Slug)
		assert.Equal(t, want, got)
		assert.Equal(t, models.StatusActive, got.Status)
		assert.Len(t, f.events(t, f.app.Slug), 2)
	})

	t.Run("records the last activity, but never an older one than recorded", func(t *testing.T) {
		f := setup(t)
		in := f.transition(1, models.StatusActive, at)
		in.LastActivityAt = at
		_, err := f.record(t, in)
		require.NoError(t, err)
		// The quota rebalance saw a login since; the next step carries the older one.
		login := at.Add(3 * time.Hour)
		require.NoError(t, f.db.Model(&models.Space{}).Where("slug = ?", f.app.Slug).Update("last_activity_at", login).Error)
		next := f.transition(2, models.StatusActive, at.Add(4*time.Hour))
		next.LastActivityAt = at
		_, err = f.record(t, next)
		require.NoError(t, err)
		s := f.space(t, f.app.Slug)
		require.NotNil(t, s.LastActivityAt)
		assert.True(t, login.Equal(*s.LastActivityAt), "last_activity_at: %v", *s.LastActivityAt)
	})

	t.Run("leaves the other spaces alone", func(t *testing.T) {
		f := setup(t)
		other := f.submit(t, "voisins")
		before := f.space(t, other.Slug)

		_, err := f.record(t, f.transition(1, models.StatusRejected, at))
		require.NoError(t, err)
		assert.Equal(t, before, f.space(t, other.Slug))
		assert.Empty(t, f.events(t, other.Slug))
	})

	t.Run("a missing space row is a non-retryable error that records nothing", func(t *testing.T) {
		f := setup(t)
		in := f.transition(1, models.StatusProvisioning, at)
		in.ApplicationID = uuid.NewString() // an application without a space row
		in.EventKey = in.ApplicationID + "/1"

		_, err := f.record(t, in)
		require.Error(t, err)
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "want an application error, got %v", err)
		assert.Equal(t, database.ErrTypeNoSpace, appErr.Type())
		assert.True(t, appErr.NonRetryable())
		assert.Empty(t, f.events(t, f.app.Slug), "the audit event must be rolled back with the failed transition")
		assert.Equal(t, models.StatusSubmitted, f.space(t, f.app.Slug).Status)
	})
}

func TestPurgeApplication(t *testing.T) {
	at := time.Date(2026, 5, 6, 14, 0, 0, 0, time.UTC)

	// rejected returns a fixture whose application was rejected and then purged once.
	rejected := func(t *testing.T) (*fixture, models.Space, []models.AuditEvent) {
		t.Helper()
		f := setup(t)
		_, err := f.record(t, f.transition(1, models.StatusOnHold, at))
		require.NoError(t, err)
		_, err = f.record(t, f.transition(2, models.StatusRejected, at.Add(time.Hour)))
		require.NoError(t, err)
		before := f.space(t, f.app.Slug)
		events := f.events(t, f.app.Slug)

		res, err := f.purge(t, f.app)
		require.NoError(t, err)
		assert.True(t, res.Deleted)
		return f, before, events
	}

	t.Run("deletes every answer of the form, the contact address included", func(t *testing.T) {
		f, _, _ := rejected(t)
		var n int64
		require.NoError(t, f.db.Model(&models.Application{}).Where("id = ?", f.app.ID).Count(&n).Error)
		assert.Zero(t, n, "application row")
		require.NoError(t, f.db.Model(&models.Application{}).Where("contact_email = ?", f.app.ContactEmail).Count(&n).Error)
		assert.Zero(t, n, "rows holding the contact address")
	})

	t.Run("keeps the space row as a tombstone without a link to the application", func(t *testing.T) {
		f, before, _ := rejected(t)
		after := f.space(t, f.app.Slug)
		assert.Nil(t, after.ApplicationID)
		assert.Equal(t, before.ID, after.ID)
		assert.Equal(t, models.StatusRejected, after.Status)
		assert.Equal(t, before.StatusReason, after.StatusReason)
		assert.Equal(t, before.SubmittedAt, after.SubmittedAt)
		assert.Equal(t, before.DecidedAt, after.DecidedAt)
	})

	t.Run("keeps the audit trail without a link to the application", func(t *testing.T) {
		f, _, before := rejected(t)
		after := f.events(t, f.app.Slug)
		require.Len(t, after, len(before))
		for i := range after {
			assert.Nil(t, after[i].ApplicationID, "event %s", after[i].Key)
			before[i].ApplicationID = nil
			assert.Equal(t, before[i], after[i])
		}
	})

	t.Run("a second purge finds nothing left and succeeds", func(t *testing.T) {
		f, _, _ := rejected(t)
		tombstone := f.space(t, f.app.Slug)
		events := f.events(t, f.app.Slug)

		res, err := f.purge(t, f.app)
		require.NoError(t, err)
		assert.False(t, res.Deleted)
		assert.Equal(t, tombstone, f.space(t, f.app.Slug))
		assert.Equal(t, events, f.events(t, f.app.Slug))
	})

	t.Run("leaves other applications alone", func(t *testing.T) {
		f := setup(t)
		other := f.submit(t, "voisins")
		_, err := f.purge(t, f.app)
		require.NoError(t, err)

		var kept models.Application
		require.NoError(t, f.db.Where("id = ?", other.ID).Take(&kept).Error)
		assert.Equal(t, other.ContactEmail, kept.ContactEmail)
		s := f.space(t, other.Slug)
		require.NotNil(t, s.ApplicationID)
		assert.Equal(t, other.ID, *s.ApplicationID)
	})
}
