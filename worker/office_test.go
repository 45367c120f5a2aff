package worker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/workflows"
)

func TestRefreshOffice(t *testing.T) {
	db := modeltest.NewDB(t)
	key := []byte("0123456789abcdef0123456789abcdef")
	settings := nextcloud.OfficeSettings{CollaboraURL: "https://bureautique.example.org",
		OnlyOfficeURL: "https://onlyoffice.example.org", OnlyOfficeJWTSecret: "nouveau-secret"}
	current := func(suite models.OfficeSuite) string { return nextcloud.OfficeFingerprint(suite, settings, key) }
	for _, sp := range []models.Space{
		{Slug: "a-jour", Status: models.StatusActive, OfficeSuite: models.OfficeCollabora, OfficeFingerprint: current(models.OfficeCollabora)},
		{Slug: "jamais-relie", Status: models.StatusActive, OfficeSuite: models.OfficeCollabora},
		{Slug: "ancien-secret", Status: models.StatusActive, OfficeSuite: models.OfficeOnlyOffice, OfficeFingerprint: "ancien"},
		{Slug: "en-panne", Status: models.StatusActive, OfficeSuite: models.OfficeOnlyOffice, OfficeFingerprint: "ancien"},
		{Slug: "desactive", Status: models.StatusDeactivated, OfficeSuite: models.OfficeCollabora, OfficeFingerprint: "ancien"},
		{Slug: "sans-suite", Status: models.StatusActive, OfficeSuite: models.OfficeNone},
	} {
		sp.SubmittedAt = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		require.NoError(t, db.Create(&sp).Error)
	}

	c := &mocks.Client{}
	var (
		mu   sync.Mutex
		sent []client.UpdateWorkflowOptions
	)
	ok, failing := &mocks.WorkflowUpdateHandle{}, &mocks.WorkflowUpdateHandle{}
	ok.On("Get", mock.Anything, mock.Anything).Return(nil)
	failing.On("Get", mock.Anything, mock.Anything).Return(errors.New("une autre action est en cours"))
	c.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(
		func(_ context.Context, o client.UpdateWorkflowOptions) client.WorkflowUpdateHandle {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, o)
			if o.WorkflowID == workflows.SpaceWorkflowID("en-panne") {
				return failing
			}
			return ok
		}, nil)

	res, err := RefreshOffice(t.Context(), c, db, settings, key, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Equal(t, OfficeRefresh{Stale: 3, Rewritten: 2, Failed: 1}, res)

	var ids []string
	for _, o := range sent {
		ids = append(ids, o.WorkflowID)
		assert.Equal(t, workflows.UpdateOffice, o.UpdateName)
		assert.Equal(t, client.WorkflowUpdateStageCompleted, o.WaitForStage)
		in := o.Args[0].(workflows.OfficeInput)
		assert.Equal(t, models.ActorSystem, in.Actor, "the system writes the suite in use again")
		assert.NotEmpty(t, in.Reason)
		want := map[string]models.OfficeSuite{workflows.SpaceWorkflowID("jamais-relie"): models.OfficeCollabora}[o.WorkflowID]
		if want != "" {
			assert.Equal(t, want, in.Suite)
		}
	}
	slices.Sort(ids)
	assert.Equal(t, []string{workflows.SpaceWorkflowID("ancien-secret"), workflows.SpaceWorkflowID("en-panne"),
		workflows.SpaceWorkflowID("jamais-relie")}, ids, "only the spaces in service with a suite whose settings changed")
}
