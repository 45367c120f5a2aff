package workflows

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
)

// quotaHarness runs one quota rebalance over a fake fleet of active spaces, with the
// space harness's fake activities (register): ListQuotaSpaces pages through spaces as
// the database does, ShareSpaceQuotas answers with usage(slug) or, for the slugs in
// failing, an error line, and RecordSpaceUsage keeps what it was asked to write.
type quotaHarness struct {
	*harness
	spaces   []database.QuotaSpace // the active spaces, by slug
	usage    func(sp database.QuotaSpace) nextcloud.QuotaUsage
	failing  map[string]bool
	listed   []database.ListQuotaSpacesInput
	shared   [][]nextcloud.SpaceQuota
	recorded []database.RecordSpaceUsageInput
	result   QuotaRebalanceResult
}

// quotaBytes is the quota of every fake space but the one a test sets.
const quotaBytes = 50 << 30

// newQuotaFleet returns a harness over n active spaces s000, s001…, each holding a
// tenth of its quota in 3 accounts, whose sharing rewrites 2 quotas.
func newQuotaFleet(t *testing.T, n int) *quotaHarness {
	t.Helper()
	q := &quotaHarness{harness: newHarness(t), failing: map[string]bool{},
		usage: func(sp database.QuotaSpace) nextcloud.QuotaUsage {
			return nextcloud.QuotaUsage{UsedBytes: sp.QuotaBytes / 10, Accounts: 3, Changed: 2}
		}}
	for i := range n {
		q.spaces = append(q.spaces, database.QuotaSpace{Slug: fmt.Sprintf("s%03d", i), QuotaBytes: quotaBytes})
	}
	q.env = q.NewTestWorkflowEnvironment()
	q.env.SetTestTimeout(30 * time.Second)
	q.env.SetStartTime(testStart)
	q.env.RegisterWorkflow(QuotaRebalanceWorkflow)
	register(q.harness, "ListQuotaSpaces", func(in database.ListQuotaSpacesInput) database.ListQuotaSpacesResult {
		q.listed = append(q.listed, in)
		var res database.ListQuotaSpacesResult
		for _, sp := range q.spaces {
			if sp.Slug > in.After && len(res.Spaces) < in.Limit {
				res.Spaces = append(res.Spaces, sp)
			}
		}
		return res
	})
	register(q.harness, "ShareSpaceQuotas", func(in nextcloud.ShareQuotasInput) nextcloud.ShareQuotasResult {
		q.shared = append(q.shared, in.Spaces)
		var res nextcloud.ShareQuotasResult
		for _, sp := range in.Spaces {
			line := nextcloud.SpaceQuotaResult{Slug: sp.Slug}
			if q.failing[sp.Slug] {
				line.Error = "no instance answers"
			} else {
				line.Usage = q.usage(database.QuotaSpace{Slug: sp.Slug, QuotaBytes: sp.QuotaBytes})
			}
			res.Spaces = append(res.Spaces, line)
		}
		return res
	})
	register(q.harness, "RecordSpaceUsage", func(in database.RecordSpaceUsageInput) database.RecordSpaceUsageResult {
		q.recorded = append(q.recorded, in)
		return database.RecordSpaceUsageResult{}
	})
	return q
}

// run executes the rebalance to its end and keeps its error, or its result.
func (q *quotaHarness) run(in QuotaRebalanceInput) {
	q.t.Helper()
	q.env.ExecuteWorkflow(QuotaRebalanceWorkflow, in)
	require.True(q.t, q.env.IsWorkflowCompleted())
	q.err = q.env.GetWorkflowError()
	if q.err == nil {
		require.NoError(q.t, q.env.GetWorkflowResult(&q.result))
	}
}

// afters returns the After of each page listed.
func (q *quotaHarness) afters() []string {
	var out []string
	for _, in := range q.listed {
		out = append(out, in.After)
	}
	return out
}

// sharedSlugs returns the slugs of each page shared.
func (q *quotaHarness) sharedSlugs() [][]string {
	var out [][]string
	for _, page := range q.shared {
		var slugs []string
		for _, sp := range page {
			slugs = append(slugs, sp.Slug)
		}
		out = append(out, slugs)
	}
	return out
}

// recordedSlugs returns every slug whose usage was recorded, in order.
func (q *quotaHarness) recordedSlugs() []string {
	var out []string
	for _, in := range q.recorded {
		for _, u := range in.Spaces {
			out = append(out, u.Slug)
		}
	}
	return out
}

// slugs returns s<from>… s<to-1>, as newQuotaFleet names them.
func slugs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("s%03d", i))
	}
	return out
}

func TestQuotaRebalance(t *testing.T) {
	t.Run("pages through the active spaces after the last slug of each page, sharing each page once, and a short page ends it", func(t *testing.T) {
		q := newQuotaFleet(t, 5)
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.NoError(t, q.err)
		assert.Equal(t, []database.ListQuotaSpacesInput{{After: "", Limit: 2}, {After: "s001", Limit: 2}, {After: "s003", Limit: 2}}, q.listed)
		assert.Equal(t, [][]string{{"s000", "s001"}, {"s002", "s003"}, {"s004"}}, q.sharedSlugs())
		assert.Equal(t, nextcloud.SpaceQuota{Slug: "s004", QuotaBytes: quotaBytes}, q.shared[2][0], "each space is shared with its quota")
		assert.Equal(t, 5, q.result.Spaces)
		assert.Equal(t, 10, q.result.Changed, "2 quotas rewritten in each of 5 spaces")
		assert.Equal(t, 3, q.calls["RecordSpaceUsage"], "one record per page")
	})

	t.Run("an exactly full last page is followed by one empty page, which ends it without sharing", func(t *testing.T) {
		q := newQuotaFleet(t, 4)
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.NoError(t, q.err)
		assert.Equal(t, []string{"", "s001", "s003"}, q.afters())
		assert.Equal(t, [][]string{{"s000", "s001"}, {"s002", "s003"}}, q.sharedSlugs())
		assert.Equal(t, 4, q.result.Spaces)
	})

	t.Run("no active space: one empty page, nothing shared nor recorded", func(t *testing.T) {
		q := newQuotaFleet(t, 0)
		q.run(QuotaRebalanceInput{})

		require.NoError(t, q.err)
		assert.Equal(t, []string{""}, q.afters())
		assert.Zero(t, q.calls["ShareSpaceQuotas"])
		assert.Zero(t, q.calls["RecordSpaceUsage"])
		assert.Equal(t, QuotaRebalanceResult{}, q.result)
	})

	t.Run("the schedule's zero input pages by quotaPageSize", func(t *testing.T) {
		q := newQuotaFleet(t, 3)
		q.run(QuotaRebalanceInput{})

		require.NoError(t, q.err)
		assert.Equal(t, []database.ListQuotaSpacesInput{{After: "", Limit: quotaPageSize}}, q.listed)
		assert.Equal(t, 3, q.result.Spaces)
	})

	t.Run("a space using its whole quota or more is full; one byte less is not", func(t *testing.T) {
		q := newQuotaFleet(t, 5)
		q.spaces[3].QuotaBytes = 1 << 30 // a smaller quota: fullness is measured against each space's own
		used := map[string]int64{"s000": quotaBytes - 1, "s001": quotaBytes, "s002": quotaBytes + 1, "s003": 1 << 30, "s004": 1 << 29}
		q.usage = func(sp database.QuotaSpace) nextcloud.QuotaUsage {
			return nextcloud.QuotaUsage{UsedBytes: used[sp.Slug], Accounts: 1}
		}
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.NoError(t, q.err)
		assert.Equal(t, []string{"s001", "s002", "s003"}, q.result.Full)
		assert.Equal(t, 3, q.result.FullCount)
		assert.Equal(t, 5, q.result.Spaces, "a full space is shared out like the others")
		assert.Empty(t, q.result.Failed)
	})

	t.Run("a failing space is counted and listed as failed, not recorded, and does not stop the others", func(t *testing.T) {
		q := newQuotaFleet(t, 5)
		q.failing["s001"] = true
		q.failing["s002"] = true
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.NoError(t, q.err)
		assert.Equal(t, []string{"s001", "s002"}, q.result.Failed)
		assert.Equal(t, 2, q.result.FailedCount)
		assert.Equal(t, 3, q.result.Spaces, "failed spaces are not counted as shared")
		assert.Equal(t, 6, q.result.Changed, "nor their changes")
		assert.Equal(t, [][]string{{"s000", "s001"}, {"s002", "s003"}, {"s004"}}, q.sharedSlugs(), "every page was still shared")
		assert.Equal(t, []string{"s000", "s003", "s004"}, q.recordedSlugs())
		assert.Empty(t, q.result.Full)
	})

	t.Run("records exactly the successful lines with their usage and last activity, at the workflow's time", func(t *testing.T) {
		q := newQuotaFleet(t, 3)
		q.failing["s001"] = true
		q.usage = func(sp database.QuotaSpace) nextcloud.QuotaUsage {
			n := int(sp.Slug[len(sp.Slug)-1] - '0')
			return nextcloud.QuotaUsage{UsedBytes: int64(n+1) << 20, Accounts: 10 + n, Changed: 1,
				LastActivity: testStart.Add(-time.Duration(n) * time.Hour)}
		}
		q.run(QuotaRebalanceInput{PageSize: 3})

		require.NoError(t, q.err)
		require.Len(t, q.recorded, 1)
		spaces := q.recorded[0].Spaces
		require.Len(t, spaces, 2)
		assert.True(t, testStart.Equal(spaces[0].LastActivity), "last activity of s000: %v", spaces[0].LastActivity)
		assert.True(t, testStart.Add(-2*time.Hour).Equal(spaces[1].LastActivity), "last activity of s002: %v", spaces[1].LastActivity)
		spaces[0].LastActivity, spaces[1].LastActivity = time.Time{}, time.Time{}
		assert.Equal(t, []database.SpaceUsage{
			{Slug: "s000", UsedBytes: 1 << 20, Accounts: 10},
			{Slug: "s002", UsedBytes: 3 << 20, Accounts: 12},
		}, spaces)
		assert.True(t, testStart.Equal(q.recorded[0].At), "want the workflow's time %v, got %v", testStart, q.recorded[0].At)
	})

	t.Run("a page where every space fails records nothing", func(t *testing.T) {
		q := newQuotaFleet(t, 3)
		q.failing["s000"], q.failing["s001"] = true, true
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.NoError(t, q.err)
		assert.Equal(t, []string{"s002"}, q.recordedSlugs())
		assert.Equal(t, 1, q.calls["RecordSpaceUsage"])
	})

	t.Run("the full and failed lists stop at 100 slugs while the counts stay exact", func(t *testing.T) {
		failing := newQuotaFleet(t, 250)
		for _, sp := range failing.spaces {
			failing.failing[sp.Slug] = true
		}
		failing.run(QuotaRebalanceInput{PageSize: 100})

		require.NoError(t, failing.err)
		assert.Equal(t, 3, failing.calls["ShareSpaceQuotas"])
		assert.Equal(t, 250, failing.result.FailedCount)
		assert.Equal(t, slugs(0, maxListedSlugs), failing.result.Failed, "the first 100, in order")
		assert.Zero(t, failing.result.Spaces)
		assert.Zero(t, failing.calls["RecordSpaceUsage"])

		full := newQuotaFleet(t, 250)
		full.usage = func(sp database.QuotaSpace) nextcloud.QuotaUsage {
			return nextcloud.QuotaUsage{UsedBytes: sp.QuotaBytes, Accounts: 1}
		}
		full.run(QuotaRebalanceInput{PageSize: 100})

		require.NoError(t, full.err)
		assert.Equal(t, 250, full.result.FullCount)
		assert.Equal(t, slugs(0, maxListedSlugs), full.result.Full)
		assert.Equal(t, 250, full.result.Spaces)
		assert.Len(t, full.recordedSlugs(), 250, "full spaces are recorded all the same")
	})

	t.Run("ShareSpaceQuotas failing after its retries fails the rebalance, without recording", func(t *testing.T) {
		q := newQuotaFleet(t, 5)
		q.fail["ShareSpaceQuotas"] = func(int) error { return errors.New("fleet database unreachable") }
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.Error(t, q.err)
		assert.Contains(t, q.err.Error(), "share quotas")
		assert.Equal(t, 3, q.calls["ShareSpaceQuotas"], "three attempts")
		assert.Equal(t, 1, q.calls["ListQuotaSpaces"], "no page after the failing one")
		assert.Zero(t, q.calls["RecordSpaceUsage"])
	})

	t.Run("ShareSpaceQuotas failing once is retried and the rebalance goes on", func(t *testing.T) {
		q := newQuotaFleet(t, 3)
		q.fail["ShareSpaceQuotas"] = func(attempt int) error {
			if attempt == 1 {
				return errors.New("worker lost")
			}
			return nil
		}
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.NoError(t, q.err)
		assert.Equal(t, 3, q.result.Spaces)
		assert.Equal(t, []string{"s000", "s001", "s002"}, q.recordedSlugs())
	})

	t.Run("listing the spaces failing after its retries fails the rebalance", func(t *testing.T) {
		q := newQuotaFleet(t, 3)
		q.fail["ListQuotaSpaces"] = func(int) error { return errors.New("database down") }
		q.run(QuotaRebalanceInput{PageSize: 2})

		require.Error(t, q.err)
		assert.Contains(t, q.err.Error(), "list spaces")
		assert.Zero(t, q.callCount("ShareSpaceQuotas"))
	})
}
