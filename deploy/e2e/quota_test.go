package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"jardinier/models"
	"jardinier/workflows"
)

func TestQuotaRebalanceEndToEnd(t *testing.T) {
	s := startSystem(t)
	ctx := context.Background()
	const gb = int64(1) << 30

	const slug = "jardin-partage"
	id := s.submit(slug, "contact@jardin-partage.example")
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
	s.waitStatus(slug, models.StatusActive)
	t.Cleanup(func() { s.fleet.Drop(context.Background(), slug) })
	// The API answers the workflow's status, which is ahead of the projection: wait
	// until the activation and its time are recorded, so that the login comes after.
	require.Eventually(t, func() bool {
		var n int64
		return s.db.Model(&models.Space{}).Where("slug = ? AND status = ? AND last_activity_at IS NOT NULL", slug, models.StatusActive).
			Count(&n).Error == nil && n == 1
	}, 30*time.Second, 100*time.Millisecond, "the activation is never recorded")
	// The admin's files take 3 GB; versions, trash and previews 1 GB more. They logged
	// in a moment ago, after the activation the policy last read.
	s.sim.SetUsage(slug, "admin", 3*gb, gb)
	login := time.Now().UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	s.sim.SetLastLogin(slug, "admin", login)

	sc := s.temporal.ScheduleClient()
	handle := sc.GetHandle(ctx, workflows.QuotaScheduleID)

	t.Run("the worker's schedule is created once and follows QUOTA_REBALANCE_EVERY", func(t *testing.T) {
		require.NoError(t, workflows.EnsureQuotaSchedule(ctx, s.temporal, time.Hour))
		require.NoError(t, workflows.EnsureQuotaSchedule(ctx, s.temporal, 2*time.Hour), "a restart with a new interval")
		desc, err := handle.Describe(ctx)
		require.NoError(t, err)
		require.Len(t, desc.Schedule.Spec.Intervals, 1)
		assert.Equal(t, 2*time.Hour, desc.Schedule.Spec.Intervals[0].Every)
	})

	t.Run("a run shares every active space's quota out and records what it holds", func(t *testing.T) {
		require.NoError(t, handle.Trigger(ctx, client.ScheduleTriggerOptions{}))
		var runID string
		require.Eventually(t, func() bool {
			desc, err := handle.Describe(ctx)
			if err != nil || len(desc.Info.RecentActions) == 0 {
				return false
			}
			runID = desc.Info.RecentActions[0].StartWorkflowResult.WorkflowID
			return true
		}, 30*time.Second, 200*time.Millisecond, "the schedule started no run")
		var res workflows.QuotaRebalanceResult
		require.NoError(t, s.temporal.GetWorkflow(ctx, runID, "").Get(ctx, &res))
		assert.Equal(t, workflows.QuotaRebalanceResult{Spaces: 1, Changed: 2}, res, "the admin's quota and the default")

		inst, _ := s.sim.Instance(slug)
		assert.Equal(t, map[string]int64{"admin": 3*gb + 46*gb}, inst.Quotas)
		assert.Equal(t, 46*gb, inst.DefaultQuota)

		var space struct {
			LastActivityAt         time.Time `json:"last_activity_at"`
			LastActivityMeasuredAt time.Time `json:"last_activity_measured_at"`
			Usage                  struct {
				StorageUsedBytes int64     `json:"storage_used_bytes"`
				Accounts         int       `json:"accounts"`
				MeasuredAt       time.Time `json:"measured_at"`
			} `json:"usage"`
		}
		require.Equal(t, http.StatusOK, s.call("GET", "/api/v1/spaces/"+slug, s.token, nil, &space))
		assert.Equal(t, 4*gb, space.Usage.StorageUsedBytes)
		assert.Equal(t, 1, space.Usage.Accounts)
		assert.WithinDuration(t, time.Now(), space.Usage.MeasuredAt, time.Minute)
		assert.True(t, login.Equal(space.LastActivityAt), "moderators see the admin's login: %v", space.LastActivityAt)
		assert.True(t, space.Usage.MeasuredAt.Equal(space.LastActivityMeasuredAt), "and when it was read: %v", space.LastActivityMeasuredAt)
	})

	t.Run("QUOTA_REBALANCE_EVERY=0 removes the schedule", func(t *testing.T) {
		require.NoError(t, workflows.EnsureQuotaSchedule(ctx, s.temporal, 0))
		require.NoError(t, workflows.EnsureQuotaSchedule(ctx, s.temporal, 0), "removing it again succeeds")
		_, err := handle.Describe(ctx)
		var notFound *serviceerror.NotFound
		assert.True(t, errors.As(err, &notFound), "the schedule is still there: %v", err)
	})
}
