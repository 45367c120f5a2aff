package workflows

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// requestUpgrade sends a fleet upgrade's request to the space at a time of the test.
func (h *harness) requestUpgrade(at time.Duration, target string) {
	h.at(at, func() {
		h.env.SignalWorkflow(SignalUpgradeSpace, UpgradeSpaceRequest{UpgradeID: UpgradeWorkflowID("u1"), Target: target})
	})
}

func TestSpaceUpgrade(t *testing.T) {
	t.Run("a space upgrades inside its own workflow and reports its downtime", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.requestUpgrade(2*day, "32.0.0")
		var st SpaceStatus
		h.queryAt(3*day, &st)
		h.run(4 * day)

		require.Len(t, h.reports, 1)
		rep := h.reports[0]
		assert.Equal(t, SpaceUpgraded, rep.Outcome, rep.Error)
		assert.Equal(t, "31.0.9", rep.From)
		assert.Equal(t, "32.0.0", rep.To)
		assert.Equal(t, "les-amis", rep.Slug)
		assert.Equal(t, []string{"maintenance", "cron", "snapshot", "switch-code", "upgrade", "health", "maintenance", "web",
			"cron", "post-upgrade", "drop-snapshot"}, h.upgradeSteps,
			"checked over HTTP out of maintenance; slow optional steps run after the space is back in service")
		assert.Equal(t, []string{"snapshot", "upgrade", "post-upgrade"}, h.remoteSteps,
			"the short steps are local activities, without a round trip through the task queue")
		assert.Equal(t, "32.0.0", st.NextcloudVersion)
		assert.False(t, h.nc.maintenance, "out of maintenance")
		assert.True(t, h.nc.cron, "cron back")
		_, recorded := h.transitionAt("upgraded")
		assert.True(t, recorded, "the upgrade is in the audit trail")
	})

	t.Run("a failed upgrade is rolled back: database restored, old code, out of maintenance", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.failStep[nextcloud.UpgradeStepUpgrade] = temporal.NewNonRetryableApplicationError("occ upgrade exited 1", nextcloud.ErrTypePermanent, nil)
		h.requestUpgrade(2*day, "32.0.0")
		var st SpaceStatus
		h.queryAt(3*day, &st)
		h.run(4 * day)

		require.Len(t, h.reports, 1)
		assert.Equal(t, SpaceUpgradeFailed, h.reports[0].Outcome)
		assert.Contains(t, h.reports[0].Error, "occ upgrade exited 1")
		assert.Equal(t, []string{"maintenance", "cron", "snapshot", "switch-code", "upgrade", "restore", "switch-code",
			"maintenance", "cron"}, h.upgradeSteps)
		assert.Equal(t, "31.0.9", h.nc.code, "back to the old code base")
		assert.Equal(t, "31.0.9", h.nc.version, "database restored")
		assert.False(t, h.nc.maintenance, "never left in maintenance")
		assert.True(t, h.nc.cron)
		assert.Equal(t, "31.0.9", st.NextcloudVersion)
		assert.Equal(t, models.StatusActive, st.Status)
	})

	t.Run("a step whose worker is lost at every attempt is tried again, not rolled back; past the bound it is", func(t *testing.T) {
		for _, tc := range []struct {
			losses  int
			outcome string
		}{{upgradeAttempts*upgradeWorkerLosses + 1, SpaceUpgraded}, {upgradeAttempts * (upgradeWorkerLosses + 1), SpaceUpgradeFailed}} {
			h, _ := activeSpace(t)
			lost := 0
			h.stepErr = func(in nextcloud.UpgradeStepInput) error {
				if in.Step == nextcloud.UpgradeStepUpgrade && lost < tc.losses {
					lost++
					return temporal.NewHeartbeatTimeoutError() // as the server says of a worker killed mid-step
				}
				return nil
			}
			h.requestUpgrade(2*day, "32.0.0")
			h.run(4 * day)

			require.Len(t, h.reports, 1)
			assert.Equal(t, tc.outcome, h.reports[0].Outcome, "%d losses: %s", tc.losses, h.reports[0].Error)
			upgrades := 0
			for _, s := range h.upgradeSteps {
				if s == nextcloud.UpgradeStepUpgrade {
					upgrades++
				}
			}
			assert.Equal(t, min(tc.losses+1, upgradeAttempts*(upgradeWorkerLosses+1)), upgrades, "%d losses", tc.losses)
			assert.False(t, h.nc.maintenance, "never left in maintenance")
		}
	})

	t.Run("a failing health check rolls back too", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.failStep[nextcloud.UpgradeStepHealth] = temporal.NewNonRetryableApplicationError("status: not installed", nextcloud.ErrTypePermanent, nil)
		h.requestUpgrade(2*day, "32.0.0")
		h.run(3 * day)

		require.Len(t, h.reports, 1)
		assert.Equal(t, SpaceUpgradeFailed, h.reports[0].Outcome)
		assert.Equal(t, "31.0.9", h.nc.version)
		assert.False(t, h.nc.maintenance)
	})

	t.Run("a space its web server serves wrong after the upgrade is rolled back, maintenance first", func(t *testing.T) {
		h, _ := activeSpace(t)
		// As CheckWeb says when php-fpm still runs the old code base.
		h.failStep[nextcloud.UpgradeStepWeb] = errors.New("web check of les-amis: status.php: serves 31.0.9, want 32.0.0")
		h.requestUpgrade(2*day, "32.0.0")
		var st SpaceStatus
		h.queryAt(3*day, &st)
		h.run(4 * day)

		require.Len(t, h.reports, 1)
		assert.Equal(t, SpaceUpgradeFailed, h.reports[0].Outcome)
		assert.Equal(t, "web check of les-amis: status.php: serves 31.0.9, want 32.0.0", h.reports[0].Error,
			"the error once, without Temporal's wrapping")
		assert.Equal(t, []string{"maintenance", "cron", "snapshot", "switch-code", "upgrade", "health", "maintenance",
			"web", "web", "web", "maintenance", "restore", "switch-code", "maintenance", "cron"}, h.upgradeSteps,
			"tried %d times, then back in maintenance before the snapshot is restored", upgradeAttempts)
		assert.Equal(t, "31.0.9", h.nc.code, "back to the old code base")
		assert.Equal(t, "31.0.9", h.nc.version, "database restored")
		assert.False(t, h.nc.maintenance, "never left in maintenance")
		assert.True(t, h.nc.cron)
		assert.Equal(t, "31.0.9", st.NextcloudVersion)
	})

	t.Run("a skip of a major is refused before anything is touched", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.requestUpgrade(2*day, "33.0.0")
		h.run(3 * day)

		require.Len(t, h.reports, 1)
		assert.Equal(t, SpaceSkipped, h.reports[0].Outcome)
		assert.Contains(t, h.reports[0].Error, "skip")
		assert.Empty(t, h.upgradeSteps)
	})

	t.Run("a deactivated space is left out, and a busy one upgrades once free", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.send(1*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.requestUpgrade(2*day, "32.0.0")
		h.send(3*day, UpdateReactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.requestUpgrade(4*day, "32.0.0")
		h.run(5 * day)

		require.Len(t, h.reports, 2)
		assert.Equal(t, SpaceSkipped, h.reports[0].Outcome)
		assert.Equal(t, models.StatusDeactivated, h.reports[0].Status)
		assert.Equal(t, SpaceUpgraded, h.reports[1].Outcome)
	})

	t.Run("a request that arrives during review waits for the space to be in service", func(t *testing.T) {
		h := newHarness(t)
		h.requestUpgrade(30*time.Minute, "32.0.0")
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &decisionAnswer{})
		h.run(2 * day)

		require.Len(t, h.reports, 1, "carried over Continue-As-New")
		assert.Equal(t, SpaceUpgraded, h.reports[0].Outcome)
	})
}

func TestSpaceUpgradeThroughMajors(t *testing.T) {
	t.Run("a space two majors behind goes through each, with its snapshot each time", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.at(2*day, func() {
			h.env.SignalWorkflow(SignalUpgradeSpace, UpgradeSpaceRequest{UpgradeID: UpgradeWorkflowID("u1"),
				Target: "33.0.1", Through: []string{"32.0.2"}})
		})
		var st SpaceStatus
		h.queryAt(3*day, &st)
		h.run(4 * day)

		require.Len(t, h.reports, 1)
		rep := h.reports[0]
		assert.Equal(t, SpaceUpgraded, rep.Outcome, rep.Error)
		assert.Equal(t, "31.0.9", rep.From)
		assert.Equal(t, "33.0.1", rep.To)
		one := []string{"maintenance", "cron", "snapshot", "switch-code", "upgrade", "health", "maintenance", "web", "cron"}
		after := []string{"post-upgrade", "drop-snapshot"}
		assert.Equal(t, slices.Concat(one, after, one, after), h.upgradeSteps,
			"31 → 32 in full, its optional steps, then 32 → 33")
		assert.Equal(t, "33.0.1", st.NextcloudVersion)
		assert.Equal(t, "33.0.1", h.nc.version)
		upgraded := 0
		for _, tr := range h.transitions {
			if tr.Action == ActionUpgraded {
				upgraded++
			}
		}
		assert.Equal(t, 2, upgraded, "each step in the timeline")
	})

	t.Run("a release reached already is not run again", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.at(2*day, func() {
			h.env.SignalWorkflow(SignalUpgradeSpace, UpgradeSpaceRequest{UpgradeID: UpgradeWorkflowID("u1"),
				Target: "33.0.1", Through: []string{"31.0.9", "32.0.2"}})
		})
		h.run(3 * day)

		require.Len(t, h.reports, 1)
		assert.Equal(t, SpaceUpgraded, h.reports[0].Outcome, h.reports[0].Error)
		snapshots := 0
		for _, step := range h.upgradeSteps {
			if step == nextcloud.UpgradeStepSnapshot {
				snapshots++
			}
		}
		assert.Equal(t, 2, snapshots, "32 then 33, not 31 again: %v", h.upgradeSteps)
		assert.Equal(t, "33.0.1", h.nc.version)
	})

	t.Run("a failure on the second major rolls that step back and keeps the first", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.failStep[nextcloud.UpgradeStepUpgrade+"@33.0.1"] = temporal.NewNonRetryableApplicationError(
			"occ upgrade exited 1", nextcloud.ErrTypePermanent, nil)
		h.at(2*day, func() {
			h.env.SignalWorkflow(SignalUpgradeSpace, UpgradeSpaceRequest{UpgradeID: UpgradeWorkflowID("u1"),
				Target: "33.0.1", Through: []string{"32.0.2"}})
		})
		var st SpaceStatus
		h.queryAt(3*day, &st)
		h.run(4 * day)

		require.Len(t, h.reports, 1)
		rep := h.reports[0]
		assert.Equal(t, SpaceUpgradeFailed, rep.Outcome)
		assert.Contains(t, rep.Error, "arrêté en 32.0.2")
		assert.Contains(t, rep.Error, "occ upgrade exited 1")
		assert.Equal(t, []string{"maintenance", "cron", "snapshot", "switch-code", "upgrade", "health", "maintenance", "web", "cron",
			"post-upgrade", "drop-snapshot",
			"maintenance", "cron", "snapshot", "switch-code", "upgrade", "restore", "switch-code", "maintenance", "cron"}, h.upgradeSteps)
		assert.Equal(t, "32.0.2", st.NextcloudVersion, "the first step holds")
		assert.Equal(t, "32.0.2", h.nc.version, "database restored to the first step's")
		assert.Equal(t, "32.0.2", h.nc.code, "back to the code base of the first step")
		assert.False(t, h.nc.maintenance, "never left in maintenance")
		assert.Equal(t, models.StatusActive, st.Status)
	})
}

func TestReactivationCatchesUp(t *testing.T) {
	t.Run("a space that missed a fleet upgrade is upgraded before it is back in service", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.missed = "32.0.2"
		h.send(1*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		answer := &decisionAnswer{}
		h.send(3*day, UpdateReactivate, ActionInput{Actor: "camille", Reason: "r"}, answer)
		var st SpaceStatus
		h.queryAt(4*day, &st)
		h.run(5 * day)

		require.True(t, answer.done)
		require.NoError(t, answer.err)
		assert.Equal(t, []string{"maintenance", "cron", "snapshot", "switch-code", "upgrade", "health", "cron",
			"post-upgrade", "drop-snapshot"}, h.upgradeSteps,
			"upgraded in maintenance, no web check while deactivated; the optional steps once in service")
		assert.Equal(t, []bool{true, false}, h.deactivated, "back in service after the upgrade")
		upgradedAt, ok := h.transitionAt(ActionUpgraded)
		require.True(t, ok)
		reactivatedAt, _ := h.transitionAt(UpdateReactivate)
		assert.False(t, reactivatedAt.Before(upgradedAt), "upgraded before it is back in service")
		assert.Equal(t, "32.0.2", st.NextcloudVersion)
		assert.Equal(t, models.StatusActive, st.Status)
		inst, _ := h.sim.Instance("les-amis")
		assert.Equal(t, "32.0.2", inst.Version)
		assert.False(t, inst.Maintenance, "in service")
		assert.Empty(t, h.reports, "no fleet upgrade to answer")
	})

	t.Run("a space two majors behind without the code base in between comes back on its release, the timeline says why", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.sim.SetCodeBases("31.0.9", "33.0.1")
		h.missed = "33.0.1"
		h.send(1*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.send(3*day, UpdateReactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		var st SpaceStatus
		h.queryAt(4*day, &st)
		h.run(5 * day)

		assert.Empty(t, h.upgradeSteps, "nothing touched")
		assert.Equal(t, "31.0.9", st.NextcloudVersion)
		assert.Equal(t, models.StatusActive, st.Status, "reactivated all the same")
		var reason string
		for _, tr := range h.transitions {
			if tr.Action == ActionUpgradeFailed {
				reason = tr.Reason
			}
		}
		assert.Contains(t, reason, "version(s) manquante(s) : 32")
	})

	t.Run("a space on the fleet's release is reactivated at once", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.missed = "31.0.9"
		h.send(1*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.send(3*day, UpdateReactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.run(4 * day)
		assert.Empty(t, h.upgradeSteps)
		assert.Equal(t, []bool{true, false}, h.deactivated)
	})
}
