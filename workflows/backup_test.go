package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/backup"
	"jardinier/activities/storage"
)

// night runs BackupFleetWorkflow over spaces with fake activities, following its
// Continue-As-New, and records each dump's attempts and start times.
type night struct {
	testsuite.WorkflowTestSuite
	spaces   []string
	failures map[string]int // how many first attempts fail half-way
	attempts map[string]int
	started  map[string]time.Time
	running  int
	peak     int
	expired  int
	runs     int
	mu       sync.Mutex // the activities run on goroutines of their own
}

func (n *night) run(t *testing.T, in BackupFleetInput) BackupFleetResult {
	t.Helper()
	n.attempts, n.started = map[string]int{}, map[string]time.Time{}
	for {
		env := n.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(BackupFleetWorkflow, workflow.RegisterOptions{Name: BackupFleetWorkflowType})
		env.RegisterActivityWithOptions(func(_ context.Context, in backup.ListSpacesInput) (backup.ListSpacesResult, error) {
			var res backup.ListSpacesResult
			if in.After == "" {
				res.Total = len(n.spaces)
			}
			for i, slug := range n.spaces {
				if slug > in.After && len(res.Spaces) < in.Limit {
					res.Spaces = append(res.Spaces, backup.SpaceRef{ID: uint(i + 1), Slug: slug})
				}
			}
			return res, nil
		}, activity.RegisterOptions{Name: "ListBackupSpaces"})
		env.RegisterActivityWithOptions(func(ctx context.Context, in backup.DumpInput) (backup.DumpResult, error) {
			n.mu.Lock()
			n.attempts[in.Slug]++
			attempt := n.attempts[in.Slug]
			if _, ok := n.started[in.Slug]; !ok {
				n.started[in.Slug] = env.Now()
			}
			n.running++
			n.peak = max(n.peak, n.running)
			n.mu.Unlock()
			// Long enough for the dumps allowed at once to overlap.
			time.Sleep(20 * time.Millisecond)
			n.mu.Lock()
			n.running--
			n.mu.Unlock()
			if attempt <= n.failures[in.Slug] {
				return backup.DumpResult{}, errors.New("worker lost half-way")
			}
			return backup.DumpResult{Key: in.Slug, SizeBytes: 10, Reused: attempt > 1}, nil
		}, activity.RegisterOptions{Name: "DumpSpace"})
		env.RegisterActivityWithOptions(func(context.Context, backup.ExpireInput) (backup.ExpireResult, error) {
			n.expired++
			return backup.ExpireResult{Expired: 3}, nil
		}, activity.RegisterOptions{Name: "ExpireBackups"})
		env.SetStartTime(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		env.ExecuteWorkflow(BackupFleetWorkflowType, in)
		require.True(t, env.IsWorkflowCompleted())
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			n.runs++
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
			continue
		}
		require.NoError(t, err)
		var res BackupFleetResult
		require.NoError(t, env.GetWorkflowResult(&res))
		return res
	}
}

func TestBackupFleet(t *testing.T) {
	t.Run("every space is dumped once, at most Concurrency at once, over runs, then the expiry pass", func(t *testing.T) {
		n := &night{failures: map[string]int{"s03": 1}}
		for i := range 7 {
			n.spaces = append(n.spaces, fmt.Sprintf("s%02d", i))
		}
		res := n.run(t, BackupFleetInput{Concurrency: 2, PageSize: 3})
		assert.Equal(t, 6, res.Spaces)
		assert.Equal(t, 1, res.Reused, "the dump retried after it was lost half-way")
		assert.Zero(t, res.FailedCount)
		assert.Equal(t, 3, res.Expired)
		assert.Equal(t, 1, n.expired, "one expiry pass, at the end")
		assert.Equal(t, 2, n.runs, "continued as new after each full page")
		assert.LessOrEqual(t, n.peak, 2)
		for _, slug := range n.spaces {
			want := 1
			if slug == "s03" {
				want = 2
			}
			assert.Equal(t, want, n.attempts[slug], slug)
		}
	})

	t.Run("the starts are spread over the window", func(t *testing.T) {
		n := &night{}
		for i := range 4 {
			n.spaces = append(n.spaces, fmt.Sprintf("s%02d", i))
		}
		n.run(t, BackupFleetInput{Concurrency: 4, Window: 4 * time.Hour})
		var starts []time.Duration
		for _, slug := range n.spaces {
			starts = append(starts, n.started[slug].Sub(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)).Round(time.Minute))
		}
		slices.Sort(starts)
		assert.Equal(t, []time.Duration{0, time.Hour, 2 * time.Hour, 3 * time.Hour}, starts)
	})

	t.Run("a space failing every attempt is counted and listed, the others go on", func(t *testing.T) {
		n := &night{spaces: []string{"a", "b"}, failures: map[string]int{"a": 100}}
		res := n.run(t, BackupFleetInput{Concurrency: 1})
		assert.Equal(t, 1, res.FailedCount)
		assert.Equal(t, []string{"a"}, res.Failed)
		assert.Equal(t, 1, res.Spaces)
		assert.Equal(t, backupAttempts, n.attempts["a"])
	})
}

func TestFileHistoryPass(t *testing.T) {
	t.Run("every space's bucket gets its file history, page after page; a space without a bucket is left alone", func(t *testing.T) {
		var suite testsuite.WorkflowTestSuite
		var spaces []backup.SpaceRef
		for i := range backupPageSize + 3 {
			sp := backup.SpaceRef{ID: uint(i + 1), Slug: fmt.Sprintf("s%04d", i), Bucket: fmt.Sprintf("space-s%04d", i)}
			if i == 7 {
				sp.Bucket = ""
			}
			spaces = append(spaces, sp)
		}
		var mu sync.Mutex // the activities run on goroutines of their own
		set := map[string]int{}
		in, runs := FileHistoryInput{}, 0
		for {
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(FileHistoryWorkflow, workflow.RegisterOptions{Name: FileHistoryWorkflowType})
			env.RegisterActivityWithOptions(func(_ context.Context, in backup.ListSpacesInput) (backup.ListSpacesResult, error) {
				var res backup.ListSpacesResult
				for _, sp := range spaces {
					if sp.Slug > in.After && len(res.Spaces) < in.Limit {
						res.Spaces = append(res.Spaces, sp)
					}
				}
				return res, nil
			}, activity.RegisterOptions{Name: "ListBackupSpaces"})
			env.RegisterActivityWithOptions(func(_ context.Context, in storage.EnableFileHistoryInput) (storage.EnableFileHistoryResult, error) {
				mu.Lock()
				defer mu.Unlock()
				set[in.Bucket]++
				return storage.EnableFileHistoryResult{VersioningEnabled: true}, nil
			}, activity.RegisterOptions{Name: "EnableFileHistory"})
			env.ExecuteWorkflow(FileHistoryWorkflowType, in)
			require.True(t, env.IsWorkflowCompleted())
			var can *workflow.ContinueAsNewError
			if err := env.GetWorkflowError(); errors.As(err, &can) {
				runs++
				require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
				continue
			} else {
				require.NoError(t, err)
			}
			var res FileHistoryResult
			require.NoError(t, env.GetWorkflowResult(&res))
			assert.Equal(t, len(spaces)-1, res.Buckets)
			assert.Equal(t, len(spaces)-1, res.Changed)
			break
		}
		assert.Equal(t, 1, runs)
		assert.Len(t, set, len(spaces)-1)
		for b, n := range set {
			assert.Equal(t, 1, n, b)
		}
	})
}
