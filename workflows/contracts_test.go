package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestContracts(t *testing.T) {
	t.Run("workflow IDs name the space or the fleet upgrade, and never change", func(t *testing.T) {
		assert.Equal(t, "space/les-amis", SpaceWorkflowID("les-amis"))
		assert.Equal(t, "les-amis", SlugFromWorkflowID("space/les-amis"))
		assert.Empty(t, SlugFromWorkflowID("upgrade/32"))
		assert.Equal(t, "upgrade/20260105-101500-a1b2c3", UpgradeWorkflowID("20260105-101500-a1b2c3"))
	})

	t.Run("workflow types keep the names recorded histories carry", func(t *testing.T) {
		assert.Equal(t, "SpaceWorkflow", SpaceWorkflowType)
		assert.Equal(t, "FleetUpgradeWorkflow", FleetUpgradeWorkflowType)
		assert.Equal(t, "QuotaRebalanceWorkflow", QuotaRebalanceWorkflowType)
		assert.Equal(t, "quota-rebalance", QuotaScheduleID)
	})
}
