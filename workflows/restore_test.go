package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/backup"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
)

// registerRestoreFakes registers the backup and object activities of a restore,
// recording their order in h.upgradeSteps beside the maintenance steps; the file scan
// is the real activity on the simulator.
func registerRestoreFakes(h *harness) {
	registerCtx(h, "DumpSpace", func(_ context.Context, in backup.DumpInput) (backup.DumpResult, error) {
		h.upgradeSteps = append(h.upgradeSteps, "dump-"+in.Kind)
		return backup.DumpResult{Key: models.BackupKey(in.Slug, in.Kind, in.At), TakenAt: in.At}, nil
	})
	registerCtx(h, "RestoreDatabase", func(_ context.Context, in backup.RestoreDatabaseInput) (backup.RestoreDatabaseResult, error) {
		if in.DryRun {
			h.upgradeSteps = append(h.upgradeSteps, "choose-backup")
		} else {
			h.upgradeSteps = append(h.upgradeSteps, "restore-database")
		}
		taken := in.At.Add(-3 * time.Hour)
		return backup.RestoreDatabaseResult{Key: models.BackupKey(in.Slug, models.BackupNightly, taken), TakenAt: taken}, nil
	})
	registerCtx(h, "RestoreObjects", func(_ context.Context, in storage.RestoreObjectsInput) (storage.RestoreObjectsResult, error) {
		h.restoredFilesAt = in.At
		if in.DryRun {
			h.upgradeSteps = append(h.upgradeSteps, "list-objects")
		} else {
			h.upgradeSteps = append(h.upgradeSteps, "restore-objects")
		}
		return storage.RestoreObjectsResult{Restored: 2, Removed: 1, Unchanged: 5,
			Changes: []storage.ObjectChange{{Key: "urn:oid:1", Action: storage.ObjectRestored}}}, nil
	})
	registerCtx(h, "ScanSpaceFiles", func(ctx context.Context, in nextcloud.ScanFilesInput) (nextcloud.ScanFilesResult, error) {
		h.upgradeSteps = append(h.upgradeSteps, "scan-files")
		return h.activities.ScanSpaceFiles(ctx, in)
	})
}

type restoreAnswer struct {
	rejected error
	err      error
	done     bool
	result   RestoreResult
}

func (h *harness) restoreAt(delay time.Duration, in RestoreInput, answer *restoreAnswer) {
	h.at(delay, func() {
		h.env.UpdateWorkflow(UpdateRestore, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { answer.rejected = err },
			OnAccept: func() {},
			OnComplete: func(result any, err error) {
				answer.err, answer.done = err, true
				if r, ok := result.(RestoreResult); ok {
					answer.result = r
				}
			},
		}, in)
	})
}

func TestSpaceRestore(t *testing.T) {
	t.Run("a restore runs in maintenance, after a snapshot, and the timeline and the contact say what was done", func(t *testing.T) {
		h, _ := activeSpace(t)
		at := testStart.Add(2 * day)
		var answer restoreAnswer
		h.restoreAt(5*day, RestoreInput{Actor: "camille", Reason: "dossier supprimé par erreur", At: at}, &answer)
		h.run(6 * day)

		require.NoError(t, answer.rejected)
		require.True(t, answer.done)
		require.NoError(t, answer.err)
		assert.Equal(t, []string{"choose-backup", "maintenance", "dump-snapshot", "restore-database", "restore-objects",
			"scan-files", "maintenance"}, h.upgradeSteps)
		assert.False(t, h.nc.maintenance, "left maintenance")
		assert.Equal(t, 2, answer.result.FilesRestored)
		assert.Equal(t, 1, answer.result.FilesRemoved)
		assert.NotEmpty(t, answer.result.Snapshot, "the snapshot that undoes the restore")
		assert.Equal(t, at.Add(-3*time.Hour), h.restoredFilesAt, "the files go back to the backup's time, which the file cache knows")
		_, recorded := h.transitionAt(ActionRestored)
		assert.True(t, recorded, "the restore is in the timeline")
		restored := h.mailsOf(mail.KindRestored)
		require.Len(t, restored, 1)
		assert.Contains(t, restored[0].Detail, "2 fichiers remis")
		assert.Equal(t, "dossier supprimé par erreur", restored[0].Reason)
	})

	t.Run("a dry run says what would change and changes nothing", func(t *testing.T) {
		h, _ := activeSpace(t)
		var answer restoreAnswer
		h.restoreAt(5*day, RestoreInput{Actor: "camille", Reason: "vérifier", At: testStart.Add(2 * day), DryRun: true}, &answer)
		h.run(6 * day)

		require.NoError(t, answer.err)
		assert.True(t, answer.result.DryRun)
		assert.Equal(t, []string{"choose-backup", "list-objects"}, h.upgradeSteps)
		assert.Equal(t, []RestoreChange{{Key: "urn:oid:1", Action: storage.ObjectRestored}}, answer.result.Changes)
		_, recorded := h.transitionAt(ActionRestored)
		assert.False(t, recorded)
		assert.Empty(t, h.mailsOf(mail.KindRestored))
	})

	t.Run("a time before any backup is the answer, and nothing is done", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.fail["RestoreDatabase"] = func(int) error {
			return temporal.NewNonRetryableApplicationError("no backup", backup.ErrTypeNoBackup, nil)
		}
		var answer restoreAnswer
		h.restoreAt(5*day, RestoreInput{Actor: "camille", Reason: "r", At: testStart.Add(2 * day)}, &answer)
		h.run(6 * day)

		require.Error(t, answer.err)
		assert.Contains(t, answer.err.Error(), "no backup")
		assert.Empty(t, h.upgradeSteps, "maintenance never turned on")
	})

	t.Run("a restore failing half-way goes back to the snapshot before it leaves maintenance", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.fail["RestoreObjects"] = func(int) error {
			// Every attempt of the restore fails; the undo's works.
			if h.calls["RestoreObjects"] <= 3 {
				return errors.New("copy refused")
			}
			return nil
		}
		var answer restoreAnswer
		h.restoreAt(5*day, RestoreInput{Actor: "camille", Reason: "r", At: testStart.Add(2 * day)}, &answer)
		h.run(6 * day)

		require.Error(t, answer.err)
		assert.Equal(t, []string{"choose-backup", "maintenance", "dump-snapshot", "restore-database", "restore-database",
			"restore-objects", "maintenance"}, h.upgradeSteps)
		assert.False(t, h.nc.maintenance)
		_, failed := h.transitionAt(ActionRestoreFailed)
		assert.True(t, failed)
		assert.Empty(t, h.mailsOf(mail.KindRestored))
	})

	for name, in := range map[string]RestoreInput{
		"without a reason":        {Actor: "camille", At: testStart.Add(2 * day)},
		"to a time in the future": {Actor: "camille", Reason: "r", At: testStart.Add(10 * day)},
		"to a time past 30 days":  {Actor: "camille", Reason: "r", At: testStart.Add(-40 * day)},
		"without a time":          {Actor: "camille", Reason: "r"},
	} {
		t.Run("a restore "+name+" is refused and leaves no trace", func(t *testing.T) {
			h, _ := activeSpace(t)
			var answer restoreAnswer
			h.restoreAt(5*day, in, &answer)
			h.run(6 * day)
			require.Error(t, answer.rejected)
			assert.Empty(t, h.upgradeSteps)
		})
	}
}
