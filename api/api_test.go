package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/workflows"
)

// fixture is an API server on a real, fresh PostgreSQL database, with the Temporal
// client mocked: these tests are about validation and authorisation.
type fixture struct {
	t        testing.TB
	db       *gorm.DB
	temporal *mocks.Client
	server   *Server
	handler  http.Handler
	started  []client.StartWorkflowOptions
	admin    string
	mod      string
}

func newFixture(t testing.TB, configure ...func(*models.Config)) *fixture {
	t.Helper()
	cfg := models.DefaultConfig()
	cfg.SecretKey = modeltest.SecretKey
	for _, f := range configure {
		f(&cfg)
	}
	f := &fixture{t: t, db: modeltest.NewDB(t), temporal: &mocks.Client{}}
	f.temporal.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(&mocks.WorkflowRun{}, nil).Run(func(args mock.Arguments) {
		f.started = append(f.started, args.Get(1).(client.StartWorkflowOptions))
	}).Maybe()
	f.server = NewServer(cfg, f.db, f.temporal, slog.New(slog.DiscardHandler))
	t.Cleanup(f.server.background.Wait) // before the database is dropped
	h, err := f.server.Handler()
	require.NoError(t, err)
	f.handler = h
	f.admin = f.moderator("alix", models.RoleAdmin)
	f.mod = f.moderator("camille", models.RoleModerator)
	return f
}

func (f *fixture) moderator(name string, role models.Role) string {
	f.t.Helper()
	token, _, err := models.CreateModerator(context.Background(), f.db, name, role)
	require.NoError(f.t, err)
	return token
}

// do sends a request; body may be a string (sent as is) or a value (sent as JSON).
// A request to the JSON API and its answer are checked against api/openapi.json.
func (f *fixture) do(method, path, token string, body any, headers ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(f.t, err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	req.RemoteAddr = "203.0.113.7:1234"
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	checkContract(f.t, req, raw, w)
	return w
}

func (f *fixture) count(model any) int64 {
	f.t.Helper()
	var n int64
	require.NoError(f.t, f.db.Model(model).Count(&n).Error)
	return n
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) errorDetail {
	t.Helper()
	var body errorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return body.Error
}

// validApplication is a complete, valid form; tests change one answer at a time.
func validApplication() map[string]any {
	return map[string]any{
		"organization_name": "Les Amis du Jardin Partagé",
		"organization_type": "association_1901",
		"sectors":           []string{"environment", "mutual_aid"},
		"founded_year":      2012,
		"employees":         0,
		"members":           48,
		"beneficiaries":     300,
		"annual_budget_eur": 4200,
		"mission":           "Faire vivre un jardin partagé dans le quartier.",
		"actions":           "Ateliers de jardinage, troc de graines, fête des récoltes.",
		"needs":             "Partager les plannings et les comptes rendus entre bénévoles.",
		"slug":              "amis-du-jardin",
		"accounts_needed":   8,
		"office_suite":      "collabora",
		"contact_email":     "contact@amis-du-jardin.example",
		"works_in_french":   true,
		"storage_needed_gb": 10,
		"terms_accepted":    true,
	}
}

func with(changes map[string]any) map[string]any { return changed(validApplication(), changes) }

// changed applies changes to a request body: a nil value removes the field.
func changed(body, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return body
}

func TestSubmitApplication(t *testing.T) {
	t.Run("a valid application is recorded, reserves its slug and starts the space's workflow", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("POST", "/api/v1/applications", "", validApplication())
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		var resp submissionResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		assert.Equal(t, "amis-du-jardin", resp.Slug)
		assert.Equal(t, models.StatusSubmitted, resp.Status)
		var app models.Application
		require.NoError(t, f.db.First(&app, "id = ?", resp.ID).Error)
		assert.Equal(t, []string{"environment", "mutual_aid"}, []string(app.Sectors))
		assert.EqualValues(t, 4200, *app.AnnualBudgetEUR)
		var sp models.Space
		require.NoError(t, f.db.First(&sp, "application_id = ?", resp.ID).Error)
		assert.Equal(t, models.StatusSubmitted, sp.Status)
		assert.Equal(t, "space-amis-du-jardin", sp.BucketName)
		require.Len(t, f.started, 1)
		assert.Equal(t, workflows.SpaceWorkflowID("amis-du-jardin"), f.started[0].ID)
		assert.Equal(t, workflows.TaskQueue, f.started[0].TaskQueue)
	})

	t.Run("the annual budget is optional and the office suite defaults to Collabora", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"annual_budget_eur": nil, "office_suite": nil}))
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		var app models.Application
		require.NoError(t, f.db.First(&app).Error)
		assert.Nil(t, app.AnnualBudgetEUR)
		assert.Equal(t, models.OfficeCollabora, app.OfficeSuite)
	})

	badFields := []struct {
		field  string
		change map[string]any
	}{
		{"organization_name", map[string]any{"organization_name": "  "}},
		{"organization_name", map[string]any{"organization_name": strings.Repeat("a", 201)}},
		{"organization_type", map[string]any{"organization_type": "company"}},
		{"sectors", map[string]any{"sectors": []string{}}},
		{"sectors", map[string]any{"sectors": []string{"finance"}}},
		{"sectors", map[string]any{"sectors": "culture"}},
		{"founded_year", map[string]any{"founded_year": nil}},
		{"founded_year", map[string]any{"founded_year": 3000}},
		{"employees", map[string]any{"employees": -1}},
		{"members", map[string]any{"members": "beaucoup"}},
		{"beneficiaries", map[string]any{"beneficiaries": nil}},
		{"annual_budget_eur", map[string]any{"annual_budget_eur": -5}},
		{"mission", map[string]any{"mission": ""}},
		{"actions", map[string]any{"actions": strings.Repeat("é", 5001)}},
		{"needs", map[string]any{"needs": nil}},
		{"slug", map[string]any{"slug": "Amis Du Jardin"}},
		{"slug", map[string]any{"slug": "ab"}},
		{"slug", map[string]any{"slug": "-amis"}},
		{"accounts_needed", map[string]any{"accounts_needed": 51}},
		{"accounts_needed", map[string]any{"accounts_needed": 0}},
		{"office_suite", map[string]any{"office_suite": "word"}},
		{"contact_email", map[string]any{"contact_email": "pas-une-adresse"}},
		{"contact_email", map[string]any{"contact_email": "Alice <alice@example.org>"}},
		{"works_in_french", map[string]any{"works_in_french": false}},
		{"works_in_french", map[string]any{"works_in_french": nil}},
		{"storage_needed_gb", map[string]any{"storage_needed_gb": 51}},
		{"storage_needed_gb", map[string]any{"storage_needed_gb": nil}},
		{"terms_accepted", map[string]any{"terms_accepted": false}},
		{"terms_accepted", map[string]any{"terms_accepted": nil}},
		{"website", map[string]any{"website": "https://example.org"}},
	}
	for _, tc := range badFields {
		t.Run(fmt.Sprintf("a bad %s is refused with 400 naming it, and nothing is written (%v)", tc.field, tc.change), func(t *testing.T) {
			f := newFixture(t)
			w := f.do("POST", "/api/v1/applications", "", with(tc.change))
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			e := errorOf(t, w)
			assert.Equal(t, tc.field, e.Field)
			assert.NotEmpty(t, e.Message)
			assert.Zero(t, f.count(&models.Application{}))
			assert.Zero(t, f.count(&models.Space{}))
			assert.Empty(t, f.started)
		})
	}

	t.Run("malformed, empty and oversized bodies are refused", func(t *testing.T) {
		f := newFixture(t)
		for _, body := range []string{"", "{", "[]", `{"slug":"a"} {"slug":"b"}`,
			`{"mission":"` + strings.Repeat("x", maxBodyBytes) + `"}`} {
			w := f.do("POST", "/api/v1/applications", "", body)
			assert.Equal(t, http.StatusBadRequest, w.Code, "%.60s: %s", body, w.Body.String())
		}
		assert.Zero(t, f.count(&models.Application{}))
	})

	t.Run("a slug taken by an open application, or reserved, is a conflict", func(t *testing.T) {
		f := newFixture(t)
		require.Equal(t, http.StatusCreated, f.do("POST", "/api/v1/applications", "", validApplication()).Code)
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"contact_email": "autre@example.org"}))
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Equal(t, "slug", errorOf(t, w).Field)
		w = f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": "admin", "contact_email": "autre@example.org"}))
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Equal(t, int64(1), f.count(&models.Application{}))
	})

	t.Run("a slug freed by a rejection can be applied for again, but a deleted one stays reserved for 90 days", func(t *testing.T) {
		f := newFixture(t)
		now := time.Now().UTC()
		require.NoError(t, f.db.Create(&models.Space{Slug: "ancien", Status: models.StatusRejected, OfficeSuite: models.OfficeNone, SubmittedAt: now}).Error)
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": "ancien"}))
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		deleted := now.Add(-89 * 24 * time.Hour)
		require.NoError(t, f.db.Create(&models.Space{Slug: "efface", Status: models.StatusDeleted, OfficeSuite: models.OfficeNone, SubmittedAt: now, DeletedAt: &deleted}).Error)
		w = f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": "efface", "contact_email": "x@example.org"}))
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
	})

	t.Run("a fourth open application for one contact is refused with the reason", func(t *testing.T) {
		f := newFixture(t)
		for i := range 3 {
			w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": fmt.Sprintf("espace-%d", i),
				"contact_email": "Meme@Example.org"}))
			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		}
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": "espace-4", "contact_email": "meme@example.org"}))
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		e := errorOf(t, w)
		assert.Equal(t, "contact_email", e.Field)
		assert.Contains(t, e.Message, "en nombre")
		assert.Equal(t, int64(3), f.count(&models.Application{}))
	})

	t.Run("submissions are rate-limited per client address, read through trusted proxies only", func(t *testing.T) {
		f := newFixture(t, func(c *models.Config) { c.SubmitRate = 2; c.TrustedProxies = []string{"203.0.113.7"} })
		submit := func(i int, clientIP string) *httptest.ResponseRecorder {
			return f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": fmt.Sprintf("limite-%d", i),
				"contact_email": fmt.Sprintf("c%d@example.org", i)}), "X-Forwarded-For", clientIP)
		}
		require.Equal(t, http.StatusCreated, submit(1, "198.51.100.1").Code)
		require.Equal(t, http.StatusCreated, submit(2, "198.51.100.1").Code)
		w := submit(3, "198.51.100.1")
		require.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
		assert.NotEmpty(t, w.Header().Get("Retry-After"))
		assert.Equal(t, http.StatusCreated, submit(4, "198.51.100.2").Code, "another client is not limited")
		assert.Equal(t, int64(3), f.count(&models.Application{}))
	})

	t.Run("when the workflow cannot be started the application is taken back", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.ExpectedCalls = nil
		f.temporal.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(nil, errors.New("connection refused"))
		w := f.do("POST", "/api/v1/applications", "", validApplication())
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
		assert.NotContains(t, w.Body.String(), "connection refused", "internal details stay in the logs")
		assert.Zero(t, f.count(&models.Application{}))
		assert.Zero(t, f.count(&models.Space{}))
	})
}

func TestModeratorAccess(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.do("POST", "/api/v1/applications", "", validApplication()).Code)

	t.Run("moderator routes need a valid bearer token", func(t *testing.T) {
		for _, path := range []string{"/api/v1/applications", "/api/v1/spaces", "/api/v1/moderators"} {
			w := f.do("GET", path, "", nil)
			assert.Equal(t, http.StatusUnauthorized, w.Code, path)
			assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, http.StatusUnauthorized, f.do("GET", path, "jrd_forged", nil).Code, path)
		}
	})

	t.Run("a moderator cannot manage moderators, and nothing changes", func(t *testing.T) {
		w := f.do("POST", "/api/v1/moderators", f.mod, map[string]any{"name": "intrus", "role": "admin"})
		require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
		assert.Equal(t, int64(2), f.count(&models.Moderator{}))
	})

	t.Run("an admin creates a moderator whose token then works, stored only hashed", func(t *testing.T) {
		w := f.do("POST", "/api/v1/moderators", f.admin, map[string]any{"name": "dominique", "role": "moderator"})
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		var v moderatorView
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
		require.True(t, strings.HasPrefix(v.Token, models.TokenPrefix))
		var m models.Moderator
		require.NoError(t, f.db.First(&m, "name = ?", "dominique").Error)
		var stored models.APIToken
		require.NoError(t, f.db.First(&stored, "moderator_id = ?", m.ID).Error)
		assert.Equal(t, models.HashToken(v.Token), stored.Hash)
		assert.Equal(t, http.StatusOK, f.do("GET", "/api/v1/applications", v.Token, nil).Code)
		w = f.do("POST", "/api/v1/moderators", f.admin, map[string]any{"name": "dominique", "role": "moderator"})
		assert.Equal(t, http.StatusConflict, w.Code)
		w = f.do("POST", "/api/v1/moderators", f.admin, map[string]any{"name": "eli", "role": "chef"})
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "role", errorOf(t, w).Field)
	})

	t.Run("moderators list and search applications, and see one in full", func(t *testing.T) {
		w := f.do("GET", "/api/v1/applications?status=submitted&q=jardin", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var list listResponse[applicationSummary]
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
		require.Len(t, list.Items, 1)
		assert.EqualValues(t, 1, list.Total)
		assert.Equal(t, "amis-du-jardin", list.Items[0].Slug)

		w = f.do("GET", "/api/v1/applications?q=inexistant", f.mod, nil)
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
		assert.Empty(t, list.Items)

		w = f.do("GET", "/api/v1/applications?status=bizarre", f.mod, nil)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "status", errorOf(t, w).Field)
		assert.Equal(t, http.StatusBadRequest, f.do("GET", "/api/v1/applications?page=0", f.mod, nil).Code)

		var app models.Application
		require.NoError(t, f.db.First(&app).Error)
		w = f.do("GET", "/api/v1/applications/"+app.ID, f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var d applicationDetail
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &d))
		assert.Equal(t, "contact@amis-du-jardin.example", d.ContactEmail)
		assert.Equal(t, models.StatusSubmitted, d.Status)

		assert.Equal(t, http.StatusNotFound, f.do("GET", "/api/v1/applications/6a1d0c9e-0000-4000-8000-000000000009", f.mod, nil).Code)
		assert.Equal(t, http.StatusBadRequest, f.do("GET", "/api/v1/applications/42", f.mod, nil).Code)
	})

	t.Run("a decision goes to the space's workflow as an update from the moderator, and a refused one is a conflict", func(t *testing.T) {
		var app models.Application
		require.NoError(t, f.db.First(&app).Error)
		var got client.UpdateWorkflowOptions
		handle := &mocks.WorkflowUpdateHandle{}
		handle.On("Get", mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
			*args.Get(1).(*workflows.DecisionResult) = workflows.DecisionResult{Status: models.StatusProvisioning}
		}).Once()
		f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
			got = args.Get(1).(client.UpdateWorkflowOptions)
		}).Once()
		w := f.do("POST", "/api/v1/applications/"+app.ID+"/accept", f.mod, map[string]any{"reason": " éligible "})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), `"status":"provisioning"`)
		assert.Equal(t, workflows.SpaceWorkflowID(app.Slug), got.WorkflowID)
		assert.Equal(t, workflows.UpdateAccept, got.UpdateName)
		assert.Equal(t, []any{workflows.DecisionInput{Moderator: "camille", Reason: "éligible"}}, got.Args)

		refused := &mocks.WorkflowUpdateHandle{}
		refused.On("Get", mock.Anything, mock.Anything).Return(
			temporal.NewApplicationError("transition refusée : l'espace est à l'état active", workflows.ErrTypeNotAllowed)).Once()
		f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(refused, nil).Once()
		w = f.do("POST", "/api/v1/applications/"+app.ID+"/hold", f.mod, nil)
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Contains(t, errorOf(t, w).Message, "transition refusée")

		assert.Equal(t, http.StatusNotFound, f.do("POST", "/api/v1/applications/"+app.ID+"/approve", f.mod, nil).Code)
		w = f.do("POST", "/api/v1/applications/"+app.ID+"/reject", f.mod, map[string]any{"raison": "x"})
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "raison", errorOf(t, w).Field)
		assert.Equal(t, http.StatusUnauthorized, f.do("POST", "/api/v1/applications/"+app.ID+"/accept", "", nil).Code)
		f.temporal.AssertExpectations(t)
	})
}
