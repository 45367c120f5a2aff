package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"jardinier/models"
)

// The statistics tell causes apart by the actions the workflows record; models
// cannot import this package, so it repeats them, and this test keeps them equal.
func TestStatsNamesAgreeWithWorkflows(t *testing.T) {
	assert.Equal(t, UpdateWithdraw, models.StatsActionWithdraw)
	for _, action := range []string{UpdateHold, UpdateReject, UpdateAccept, UpdateDeactivate, UpdateReactivate, UpdateDelete, UpdateWithdraw} {
		assert.Contains(t, models.StatsBackfillActions(), action, "the statistics backfill must know the action %q", action)
	}
}
