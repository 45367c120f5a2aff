package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/workflows"
)

const day = 24 * time.Hour

// space records a space in the projection; change sets the fields a test is about.
func (f *fixture) space(slug string, status models.Status, change func(*models.Space)) *models.Space {
	f.t.Helper()
	sp := &models.Space{Slug: slug, Status: status, OfficeSuite: models.OfficeCollabora,
		SubmittedAt: time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)}
	if change != nil {
		change(sp)
	}
	require.NoError(f.t, f.db.Create(sp).Error)
	return sp
}

// link is the token of a link mailed to a space's contact.
func (f *fixture) link(slug string, purpose models.TokenPurpose, seq int, expires time.Time) string {
	f.t.Helper()
	return models.NewSigner(modeltest.SecretKey).Sign(models.LinkToken{Slug: slug, Purpose: purpose, Seq: seq, Expires: expires})
}

// expectUpdate makes the next workflow update answer with result, or fail with err,
// and returns where the update's options will be written.
func (f *fixture) expectUpdate(result any, err error) *client.UpdateWorkflowOptions {
	f.t.Helper()
	got := &client.UpdateWorkflowOptions{}
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(err).Run(func(args mock.Arguments) {
		if err == nil {
			switch r := result.(type) {
			case workflows.ActionResult:
				*args.Get(1).(*workflows.ActionResult) = r
			case workflows.ContactRequestResult:
				*args.Get(1).(*workflows.ContactRequestResult) = r
			}
		}
	}).Once()
	f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
		*got = args.Get(1).(client.UpdateWorkflowOptions)
	}).Once()
	return got
}

// recordUpdates answers every workflow update with result, and returns what has been
// sent so far; safe while requests pass updates on in the background.
func (f *fixture) recordUpdates(result workflows.ContactRequestResult) func() []client.UpdateWorkflowOptions {
	f.t.Helper()
	var (
		mu   sync.Mutex
		sent []client.UpdateWorkflowOptions
	)
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		*args.Get(1).(*workflows.ContactRequestResult) = result
	})
	f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, args.Get(1).(client.UpdateWorkflowOptions))
	})
	return func() []client.UpdateWorkflowOptions {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sent)
	}
}

// updates counts the workflow updates sent so far; not while requests run in the
// background.
func (f *fixture) updates() int {
	n := 0
	for _, call := range f.temporal.Calls {
		if call.Method == "UpdateWorkflow" {
			n++
		}
	}
	return n
}

// assertPage checks that the answer is a French HTML page with the status and texts.
func assertPage(t *testing.T, w *httptest.ResponseRecorder, status int, texts ...string) {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	body := w.Body.String()
	assert.Contains(t, body, `<html lang="fr">`)
	for _, text := range texts {
		assert.Contains(t, body, text)
	}
}

func TestSpaceActions(t *testing.T) {
	for action, update := range spaceActions {
		t.Run(fmt.Sprintf("%s goes to the space's workflow as the %q update from the moderator, with the reason", action, update), func(t *testing.T) {
			f := newFixture(t)
			got := f.expectUpdate(workflows.ActionResult{Status: models.StatusDeactivated}, nil)
			w := f.do("POST", "/api/v1/spaces/amis-du-jardin/"+action, f.mod, map[string]any{"reason": "  demande de l'association  "})
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.JSONEq(t, `{"slug":"amis-du-jardin","status":"deactivated"}`, w.Body.String())
			assert.Equal(t, workflows.SpaceWorkflowID("amis-du-jardin"), got.WorkflowID)
			assert.Equal(t, update, got.UpdateName)
			assert.Equal(t, client.WorkflowUpdateStageCompleted, got.WaitForStage)
			assert.Equal(t, []any{workflows.ActionInput{Actor: "camille", Reason: "demande de l'association"}}, got.Args)
			f.temporal.AssertExpectations(t)
		})
	}

	t.Run("the reason is required, at most 2000 characters, and the body takes no other field", func(t *testing.T) {
		f := newFixture(t)
		for _, body := range []any{nil, map[string]any{}, map[string]any{"reason": " \n "},
			map[string]any{"reason": strings.Repeat("é", models.MaxReasonLength+1)}, map[string]any{"reason": 42}} {
			w := f.do("POST", "/api/v1/spaces/amis-du-jardin/delete", f.mod, body)
			require.Equal(t, http.StatusBadRequest, w.Code, "%v: %s", body, w.Body.String())
			assert.Equal(t, "reason", errorOf(t, w).Field)
		}
		w := f.do("POST", "/api/v1/spaces/amis-du-jardin/delete", f.mod, map[string]any{"reason": "x", "motif": "y"})
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "motif", errorOf(t, w).Field)
		assert.Zero(t, f.updates())
	})

	t.Run("an action the workflow refuses is a conflict with its message", func(t *testing.T) {
		f := newFixture(t)
		f.expectUpdate(nil, temporal.NewApplicationError("transition refusée : l'espace est à l'état active", workflows.ErrTypeNotAllowed))
		w := f.do("POST", "/api/v1/spaces/amis-du-jardin/reactivate", f.mod, map[string]any{"reason": "erreur"})
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Contains(t, errorOf(t, w).Message, "transition refusée")
	})

	t.Run("a refusal naming a field is a bad request naming it; one of an unknown kind is an internal error", func(t *testing.T) {
		f := newFixture(t)
		f.expectUpdate(nil, temporal.NewApplicationError("la raison est obligatoire", workflows.ErrTypeInvalidInput,
			workflows.Refusal{Field: "reason"}))
		w := f.do("POST", "/api/v1/spaces/amis-du-jardin/delete", f.mod, map[string]any{"reason": "x"})
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "reason", errorOf(t, w).Field)
		assert.Equal(t, "la raison est obligatoire", errorOf(t, w).Message)

		f.expectUpdate(nil, temporal.NewApplicationError("panne du stockage", "SomethingElse"))
		w = f.do("POST", "/api/v1/spaces/amis-du-jardin/delete", f.mod, map[string]any{"reason": "x"})
		require.Equal(t, http.StatusInternalServerError, w.Code, w.Body.String())
		assert.NotContains(t, w.Body.String(), "panne du stockage", "internal details stay in the logs")
	})

	t.Run("an action on a space without a workflow is not found", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).
			Return(nil, serviceerror.NewNotFound("workflow not found for ID: space/inconnu")).Once()
		w := f.do("POST", "/api/v1/spaces/inconnu/deactivate", f.mod, map[string]any{"reason": "test"})
		require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
		assert.NotContains(t, w.Body.String(), "workflow not found")
	})

	t.Run("an unknown action is not found and a visitor without a token is refused", func(t *testing.T) {
		f := newFixture(t)
		assert.Equal(t, http.StatusNotFound, f.do("POST", "/api/v1/spaces/amis-du-jardin/archive", f.mod, map[string]any{"reason": "x"}).Code)
		w := f.do("POST", "/api/v1/spaces/amis-du-jardin/delete", "", map[string]any{"reason": "x"})
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("POST", "/api/v1/spaces/amis-du-jardin/delete", "jrd_forged", map[string]any{"reason": "x"}).Code)
		assert.Zero(t, f.updates())
	})
}

func TestPlannedSteps(t *testing.T) {
	next := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := next.Add(d); return &v }
	// Gaps no policy has: the dates are the workflow's, never recomputed.
	plan := []models.PlannedStep{{Step: models.StepSecondWarning, At: next}, {Step: models.StepDeactivation, At: next.Add(3 * day)},
		{Step: models.StepDeletionNotice, At: next.Add(40 * day)}, {Step: models.StepDeletion, At: next.Add(41 * day)}}
	for _, tc := range []struct {
		name  string
		space models.Space
		want  []models.PlannedStep
	}{
		{"a space in service shows the plan its workflow projected, as it is",
			models.Space{Status: models.StatusActive, NextStep: models.StepSecondWarning, NextStepAt: at(0), DeletionDueAt: at(10 * day), Plan: plan},
			plan},
		{"a row from before plans were projected shows its next step and its deletion",
			models.Space{Status: models.StatusDeactivated, NextStep: models.StepDeletionNotice, NextStepAt: at(0), DeletionDueAt: at(20 * day)},
			[]models.PlannedStep{{Step: models.StepDeletionNotice, At: next}, {Step: models.StepDeletion, At: next.Add(20 * day)}}},
		{"a space whose next step is its deletion shows it once",
			models.Space{Status: models.StatusDeactivated, NextStep: models.StepDeletion, NextStepAt: at(0), DeletionDueAt: at(0)},
			[]models.PlannedStep{{Step: models.StepDeletion, At: next}}},
		{"an exempt space has nothing ahead",
			models.Space{Status: models.StatusActive, Exempt: true, Plan: plan}, nil},
		{"a space not in service has nothing ahead",
			models.Space{Status: models.StatusDeleted, NextStep: models.StepDeletion, NextStepAt: at(0), Plan: plan}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, plannedSteps(&tc.space))
		})
	}
}

func TestSpaceTimeline(t *testing.T) {
	f := newFixture(t)
	submitted := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	next := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	f.space("ancien", models.StatusDeleted, func(sp *models.Space) { sp.SubmittedAt = submitted.AddDate(-1, 0, 0) })
	f.space("ancien", models.StatusActive, func(sp *models.Space) {
		sp.SubmittedAt = submitted
		sp.NextStep, sp.NextStepAt = models.StepDeactivation, &next
		sp.Plan = []models.PlannedStep{{Step: models.StepDeactivation, At: next},
			{Step: models.StepDeletionNotice, At: next.Add(15 * day)}, {Step: models.StepDeletion, At: next.Add(33 * day)}}
	})
	for i, ev := range []models.AuditEvent{
		{Action: "submitted", Actor: models.ActorApplicant, At: submitted.AddDate(-1, 0, 0)}, // the older space's
		{Action: "submitted", Actor: models.ActorApplicant, At: submitted},
		{Action: workflows.UpdateAccept, Actor: "camille", Reason: "éligible", At: submitted.Add(2 * day)},
		{Action: string(models.StepFirstWarning), Actor: models.ActorSystem, At: next.Add(-30 * day)},
		{Action: string(models.StepSecondWarning), Actor: models.ActorSystem, At: next.Add(-15 * day)},
	} {
		ev.Key, ev.Slug = fmt.Sprintf("ancien/%d", i), "ancien"
		require.NoError(t, f.db.Create(&ev).Error)
	}

	t.Run("lists what happened since the space's submission, then the planned steps with their dates", func(t *testing.T) {
		w := f.do("GET", "/api/v1/spaces/ancien/timeline", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var resp timelineResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		assert.Equal(t, models.StatusActive, resp.Status)
		type step struct {
			Action, Actor, Reason string
			At                    time.Time
			Planned               bool
		}
		var got []step
		for _, e := range resp.Steps {
			got = append(got, step{e.Action, e.Actor, e.Reason, e.At.UTC(), e.Planned})
		}
		assert.Equal(t, []step{
			{"submitted", "applicant", "", submitted, false},
			{"accept", "camille", "éligible", submitted.Add(2 * day), false},
			{"warn1", "system", "", next.Add(-30 * day), false},
			{"warn2", "system", "", next.Add(-15 * day), false},
			{"deactivate", "system", "", next, true},
			{"notice", "system", "", next.Add(15 * day), true},
			{"delete", "system", "", next.Add(33 * day), true},
		}, got, "the planned dates are the workflow's plan")
	})

	t.Run("an unknown space has no timeline, and moderators only see it", func(t *testing.T) {
		assert.Equal(t, http.StatusNotFound, f.do("GET", "/api/v1/spaces/inconnu/timeline", f.mod, nil).Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/spaces/ancien/timeline", "", nil).Code)
	})
}

func TestPolicyPreview(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.server.now = func() time.Time { return now }
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	planned := func(steps ...any) []models.PlannedStep {
		var plan []models.PlannedStep
		for i := 0; i < len(steps); i += 2 {
			plan = append(plan, models.PlannedStep{Step: steps[i].(models.Step), At: *at(steps[i+1].(time.Duration))})
		}
		return plan
	}
	f.space("bientot", models.StatusActive, func(sp *models.Space) {
		sp.NextStep, sp.NextStepAt = models.StepFirstWarning, at(5*day)
		sp.Plan = planned(models.StepFirstWarning, 5*day, models.StepSecondWarning, 20*day, models.StepDeactivation, 35*day,
			models.StepDeletionNotice, 50*day, models.StepDeletion, 65*day)
	})
	f.space("en-retard", models.StatusActive, func(sp *models.Space) {
		sp.NextStep, sp.NextStepAt = models.StepSecondWarning, at(-day)
		sp.Plan = planned(models.StepSecondWarning, -day, models.StepDeactivation, 14*day, models.StepDeletionNotice, 29*day,
			models.StepDeletion, 44*day)
	})
	f.space("desactive", models.StatusDeactivated, func(sp *models.Space) {
		sp.NextStep, sp.NextStepAt, sp.DeletionDueAt = models.StepDeletionNotice, at(10*day), at(28*day)
		sp.Plan = planned(models.StepDeletionNotice, 10*day, models.StepDeletion, 28*day)
	})
	f.space("exempte", models.StatusActive, func(sp *models.Space) {
		sp.Exempt, sp.NextStep, sp.NextStepAt = true, models.StepFirstWarning, at(day)
	})
	f.space("lointain", models.StatusActive, func(sp *models.Space) { sp.NextStep, sp.NextStepAt = models.StepFirstWarning, at(40*day) })
	f.space("sans-date", models.StatusActive, nil)

	t.Run("lists the steps due in the window by date, with counts per step and the policy", func(t *testing.T) {
		w := f.do("GET", "/api/v1/policy/preview?days=30", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var resp previewResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		assert.Equal(t, "warn1=60d,warn2=75d,deactivate=90d,notice=105d,delete=120d", resp.Policy)
		assert.Equal(t, 1, resp.PolicyVersion, "INACTIVITY_POLICY seeded the first version")
		assert.Equal(t, 30, resp.Days)
		assert.True(t, now.AddDate(0, 0, 30).Equal(resp.Until))
		item := func(slug string, status models.Status, step models.Step, d time.Duration) previewItem {
			return previewItem{Slug: slug, Status: status, Step: step, Date: now.Add(d)}
		}
		want := []previewItem{
			item("en-retard", models.StatusActive, models.StepSecondWarning, -day),
			item("bientot", models.StatusActive, models.StepFirstWarning, 5*day),
			item("desactive", models.StatusDeactivated, models.StepDeletionNotice, 10*day),
			item("en-retard", models.StatusActive, models.StepDeactivation, 14*day),
			item("bientot", models.StatusActive, models.StepSecondWarning, 20*day),
			item("desactive", models.StatusDeactivated, models.StepDeletion, 28*day),
			item("en-retard", models.StatusActive, models.StepDeletionNotice, 29*day),
		}
		for i := range resp.Items {
			resp.Items[i].Date = resp.Items[i].Date.UTC()
		}
		assert.Equal(t, want, resp.Items)
		assert.Equal(t, map[models.Step]int{models.StepFirstWarning: 1, models.StepSecondWarning: 2,
			models.StepDeactivation: 1, models.StepDeletionNotice: 2, models.StepDeletion: 1}, resp.Counts)
	})

	t.Run("the number of days is a whole number from 1 to 3650", func(t *testing.T) {
		for _, days := range []string{"", "0", "-3", "3651", "1.5", "trente"} {
			w := f.do("GET", "/api/v1/policy/preview?days="+days, f.mod, nil)
			require.Equal(t, http.StatusBadRequest, w.Code, "%q: %s", days, w.Body.String())
			assert.Equal(t, "days", errorOf(t, w).Field)
		}
		assert.Equal(t, http.StatusOK, f.do("GET", "/api/v1/policy/preview?days=3650", f.mod, nil).Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/policy/preview?days=30", "", nil).Code)
	})
}

func TestDeactivatedPage(t *testing.T) {
	f := newFixture(t)
	deletion := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	f.space("en-sommeil", models.StatusDeactivated, func(sp *models.Space) { sp.DeletionDueAt = &deletion })
	f.space("en-service", models.StatusActive, nil)

	t.Run("names the space, says it is deactivated, how to reactivate it and when it will be deleted", func(t *testing.T) {
		for _, path := range []string{"/spaces/en-sommeil/deactivated", "/spaces/en-sommeil/deactivated/",
			"/spaces/en-sommeil/deactivated/remote.php/dav/files/alix/rapport.odt", "/spaces/en-sommeil/deactivated/s/AbCdEf"} {
			w := f.do("GET", path, "", nil)
			assertPage(t, w, http.StatusOK, "L'espace « en-sommeil » est désactivé", "https://en-sommeil.jardinier.localhost",
				"lien de réactivation", "12 mars 2026")
		}
	})

	t.Run("an active or unknown space has no such page", func(t *testing.T) {
		for _, slug := range []string{"en-service", "inconnu"} {
			assertPage(t, f.do("GET", "/spaces/"+slug+"/deactivated", "", nil), http.StatusNotFound, "Page introuvable")
		}
	})
}

func TestReactivationLink(t *testing.T) {
	future := time.Now().Add(10 * day)
	path := func(token string) string { return "/reactivate?token=" + url.QueryEscape(token) }

	t.Run("opening the link shows a form and changes nothing", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("GET", path(f.link("en-sommeil", models.PurposeReactivate, 3, future)), "", nil)
		assertPage(t, w, http.StatusOK, "Réactiver l'espace « en-sommeil »", `method="post"`, "Réactiver l'espace</button>")
		f.temporal.AssertNotCalled(t, "UpdateWorkflow", mock.Anything, mock.Anything)
	})

	t.Run("the form reactivates the space as its contact, with the link's sequence number", func(t *testing.T) {
		f := newFixture(t)
		got := f.expectUpdate(workflows.ActionResult{Status: models.StatusActive}, nil)
		w := f.do("POST", path(f.link("en-sommeil", models.PurposeReactivate, 3, future)), "", nil)
		assertPage(t, w, http.StatusOK, "L'espace « en-sommeil » est réactivé", "https://en-sommeil.jardinier.localhost")
		assert.Equal(t, workflows.SpaceWorkflowID("en-sommeil"), got.WorkflowID)
		assert.Equal(t, workflows.UpdateReactivate, got.UpdateName)
		assert.Equal(t, []any{workflows.ActionInput{Actor: models.ActorContact, TokenSeq: 3}}, got.Args)
	})

	t.Run("a forged, cut or misdirected link is invalid, and nothing is sent", func(t *testing.T) {
		f := newFixture(t)
		good := f.link("en-sommeil", models.PurposeReactivate, 3, future)
		body, _, _ := strings.Cut(good, ".")
		forged := models.NewSigner([]byte("another key, another key, again!")).Sign(models.LinkToken{
			Slug: "en-sommeil", Purpose: models.PurposeReactivate, Seq: 3, Expires: future})
		for _, token := range []string{"", "abc", body, good[:len(good)-2], forged,
			f.link("en-sommeil", models.PurposeConfirmDeletion, 3, future)} {
			for _, method := range []string{"GET", "POST"} {
				assertPage(t, f.do(method, path(token), "", nil), http.StatusBadRequest, "Lien invalide")
			}
		}
		assert.Zero(t, f.updates())
	})

	t.Run("an expired link is gone, and says the space may be deleted already", func(t *testing.T) {
		f := newFixture(t)
		token := f.link("en-sommeil", models.PurposeReactivate, 3, time.Now().Add(-time.Minute))
		for _, method := range []string{"GET", "POST"} {
			assertPage(t, f.do(method, path(token), "", nil), http.StatusGone, "Lien expiré", "déjà été supprimé")
		}
		assert.Zero(t, f.updates())
	})

	t.Run("a link the workflow refuses has served already or is no longer valid", func(t *testing.T) {
		f := newFixture(t)
		f.expectUpdate(nil, temporal.NewApplicationError("lien déjà utilisé", workflows.ErrTypeStaleLink))
		w := f.do("POST", path(f.link("en-sommeil", models.PurposeReactivate, 2, future)), "", nil)
		assertPage(t, w, http.StatusConflict, "Ce lien a déjà servi ou n'est plus valable")
	})

	t.Run("a link to a space whose workflow is over is gone", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).
			Return(nil, serviceerror.NewNotFound("workflow execution already completed")).Once()
		w := f.do("POST", path(f.link("supprime", models.PurposeReactivate, 1, future)), "", nil)
		assertPage(t, w, http.StatusGone, "Lien expiré")
	})

	t.Run("without a secret key the links cannot be checked and the page says so", func(t *testing.T) {
		f := newFixture(t, func(c *models.Config) { c.SecretKey = nil })
		for _, method := range []string{"GET", "POST"} {
			assertPage(t, f.do(method, path(f.link("en-sommeil", models.PurposeReactivate, 3, future)), "", nil),
				http.StatusServiceUnavailable, "momentanément indisponible")
		}
		assertPage(t, f.do("GET", "/confirm?token=x", "", nil), http.StatusServiceUnavailable, "momentanément indisponible")
	})
}

func TestConfirmationLink(t *testing.T) {
	future := time.Now().Add(2 * day)
	path := func(token string) string { return "/confirm?token=" + url.QueryEscape(token) }
	for _, tc := range []struct {
		purpose models.TokenPurpose
		update  string
		page    []string
		done    string
	}{
		{models.PurposeConfirmDeactivation, workflows.UpdateDeactivate,
			[]string{"Désactiver l'espace « jardin »", "Désactiver l'espace</button>", "lien de réactivation"},
			"L'espace « jardin » est désactivé"},
		{models.PurposeConfirmDeletion, workflows.UpdateDelete,
			[]string{"Supprimer l'espace « jardin »", "irréversible", "chaque fichier sera perdu", "Supprimer définitivement l'espace</button>"},
			"L'espace « jardin » va être supprimé"},
	} {
		t.Run(fmt.Sprintf("a %s link shows what will happen and changes nothing until confirmed", tc.purpose), func(t *testing.T) {
			f := newFixture(t)
			token := f.link("jardin", tc.purpose, 5, future)
			assertPage(t, f.do("GET", path(token), "", nil), http.StatusOK, append(tc.page, `method="post"`)...)
			f.temporal.AssertNotCalled(t, "UpdateWorkflow", mock.Anything, mock.Anything)

			got := f.expectUpdate(workflows.ActionResult{Status: models.StatusDeactivated}, nil)
			assertPage(t, f.do("POST", path(token), "", nil), http.StatusOK, tc.done)
			assert.Equal(t, workflows.SpaceWorkflowID("jardin"), got.WorkflowID)
			assert.Equal(t, tc.update, got.UpdateName)
			assert.Equal(t, []any{workflows.ActionInput{Actor: models.ActorContact, TokenSeq: 5}}, got.Args)
		})
	}

	t.Run("the deactivation page does not speak of an irreversible deletion", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("GET", path(f.link("jardin", models.PurposeConfirmDeactivation, 5, future)), "", nil)
		assert.NotContains(t, w.Body.String(), "irréversible")
	})

	t.Run("a reactivation link is not a confirmation, an expired one is gone, a used one is a conflict", func(t *testing.T) {
		f := newFixture(t)
		assertPage(t, f.do("POST", path(f.link("jardin", models.PurposeReactivate, 5, future)), "", nil), http.StatusBadRequest, "Lien invalide")
		expired := f.link("jardin", models.PurposeConfirmDeletion, 5, time.Now().Add(-time.Second))
		assertPage(t, f.do("POST", path(expired), "", nil), http.StatusGone, "Lien expiré")
		assert.Zero(t, f.updates())
		f.expectUpdate(nil, temporal.NewApplicationError("lien remplacé par un plus récent", workflows.ErrTypeStaleLink))
		assertPage(t, f.do("POST", path(f.link("jardin", models.PurposeConfirmDeletion, 4, future)), "", nil),
			http.StatusConflict, "Ce lien a déjà servi ou n'est plus valable")
	})
}

func TestContactRequests(t *testing.T) {
	for _, tc := range []struct{ path, action string }{
		{"request-deactivation", workflows.UpdateDeactivate},
		{"request-deletion", workflows.UpdateDelete},
	} {
		t.Run(tc.path+" answers the same for an existing and an unknown space, and only the existing one is asked", func(t *testing.T) {
			f := newFixture(t)
			f.space("jardin", models.StatusActive, nil)
			f.space("ancien", models.StatusDeleted, nil)
			sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
			existing := f.do("POST", "/api/v1/spaces/jardin/"+tc.path, "", nil)
			require.Equal(t, http.StatusAccepted, existing.Code, existing.Body.String())
			assert.JSONEq(t, `{"message":"Si cet espace existe, un lien de confirmation a été envoyé à son adresse de contact."}`, existing.Body.String())
			for _, slug := range []string{"inconnu", "ancien", "admin"} {
				w := f.do("POST", "/api/v1/spaces/"+slug+"/"+tc.path, "", nil)
				assert.Equal(t, existing.Code, w.Code, slug)
				assert.Equal(t, existing.Body.String(), w.Body.String(), slug)
				assert.Equal(t, existing.Header(), w.Header(), slug)
			}
			assert.Eventually(t, func() bool { return len(sent()) == 1 }, 5*time.Second, 10*time.Millisecond)
			f.server.background.Wait()
			got := sent()
			require.Len(t, got, 1, "only the existing space's workflow is asked")
			assert.Equal(t, workflows.SpaceWorkflowID("jardin"), got[0].WorkflowID)
			assert.Equal(t, workflows.UpdateContactRequest, got[0].UpdateName)
			assert.Equal(t, []any{workflows.ContactRequestInput{Action: tc.action}}, got[0].Args)
		})
	}

	t.Run("a malformed name is refused", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("POST", "/api/v1/spaces/Pas_Un_Nom/request-deletion", "", nil)
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "slug", errorOf(t, w).Field)
	})

	t.Run("a failing workflow does not change the answer", func(t *testing.T) {
		f := newFixture(t)
		f.space("jardin", models.StatusDeactivated, nil)
		f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, serviceerror.NewUnavailable("down")).Once()
		w := f.do("POST", "/api/v1/spaces/jardin/request-deletion", "", nil)
		assert.Equal(t, http.StatusAccepted, w.Code)
		f.server.background.Wait()
		assert.Equal(t, 1, f.updates())
	})

	t.Run("requests are rate-limited per client address, apart from applications", func(t *testing.T) {
		f := newFixture(t, func(c *models.Config) { c.SubmitRate = 2 })
		for range 2 {
			require.Equal(t, http.StatusAccepted, f.do("POST", "/api/v1/spaces/inconnu/request-deletion", "", nil).Code)
		}
		w := f.do("POST", "/api/v1/spaces/inconnu/request-deactivation", "", nil)
		require.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
		assert.NotEmpty(t, w.Header().Get("Retry-After"))
		assert.Equal(t, http.StatusCreated, f.do("POST", "/api/v1/applications", "", validApplication()).Code)
	})
}
