package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"jardinier/models"
)

// The fuzz targets send any body to the forms and JSON requests of the API. Whatever
// the body, the answer is never a 5xx, and a refusal changes nothing. `make test` runs
// their seed corpus (testdata/fuzz) as ordinary tests; to search further:
//
//	go test ./api -run '^$' -fuzz FuzzApplicationForm -fuzztime 60s

// fuzzFixture is one server for every input of a fuzz target, without rate limits,
// whose workflows are all gone (an update finds no workflow).
func fuzzFixture(f *testing.F) *fixture {
	fx := newFixture(f, func(c *models.Config) { c.SubmitRate = 1 << 30 })
	fx.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, serviceerror.NewNotFound("no workflow"))
	return fx
}

// dbState is what a refused request must leave as it was.
type dbState struct {
	Applications, Spaces, Moderators, Events, Upgrades int64
	Opening                                            models.Opening
}

func (fx *fixture) state(t *testing.T) dbState {
	t.Helper()
	var st dbState
	for table, n := range map[string]*int64{"applications": &st.Applications, "spaces": &st.Spaces,
		"moderators": &st.Moderators, "audit_events": &st.Events, "upgrade_spaces": &st.Upgrades} {
		require.NoError(t, fx.db.Table(table).Count(n).Error)
	}
	o, err := models.LoadOpening(t.Context(), fx.db)
	require.NoError(t, err)
	o.UpdatedAt = o.UpdatedAt.UTC()
	st.Opening = o
	return st
}

// fuzzPost posts body to path and checks the rule of every fuzz target.
func (fx *fixture) fuzzPost(t *testing.T, path, token, contentType, body string) {
	t.Helper()
	before := fx.state(t)
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.RemoteAddr = "203.0.113.9:1234"
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	fx.handler.ServeHTTP(w, req)
	if w.Code >= 500 {
		t.Fatalf("POST %s answered %d for %q: %s", path, w.Code, body, w.Body.String())
	}
	if w.Code >= 400 {
		if after := fx.state(t); after != before {
			t.Fatalf("POST %s refused %q with %d but changed the database: %+v, then %+v", path, body, w.Code, before, after)
		}
	}
}

func FuzzApplicationForm(f *testing.F) {
	fx := fuzzFixture(f)
	f.Add(validForm().Encode())
	f.Add("")
	f.Add("organization_name=%ZZ&sectors=culture&sectors=culture")
	f.Add("founded_year=99999999999999999999&members=-1&annual_budget_eur=1e9&terms_accepted=peut-%C3%AAtre")
	f.Add("slug=admin&contact_email=a%40b&works_in_french=non&storage_needed_gb=51")
	f.Fuzz(func(t *testing.T, body string) {
		fx.fuzzPost(t, "/demande", "", "application/x-www-form-urlencoded", body)
	})
}

func FuzzApplicationJSON(f *testing.F) {
	fx := fuzzFixture(f)
	valid, err := json.Marshal(validApplication())
	require.NoError(f, err)
	f.Add(string(valid))
	f.Add(`{}`)
	f.Add(`{"sectors":"culture","founded_year":"2012"}`)
	f.Add(`{"slug":"amis-du-jardin","accounts_needed":1e400}`)
	f.Add(`[{"organization_name":null}]`)
	f.Fuzz(func(t *testing.T, body string) {
		fx.fuzzPost(t, "/api/v1/applications", "", "application/json", body)
	})
}

// FuzzJSONRequests sends any body to every other JSON request of the API, public,
// moderators' and admins'.
func FuzzJSONRequests(f *testing.F) {
	fx := fuzzFixture(f)
	app := modelApplication(f, fx)
	endpoints := []struct{ path, token string }{
		{"/api/v1/follow/withdraw", ""},
		{"/api/v1/spaces/jardin/request-deletion", ""},
		{"/api/v1/applications/" + app + "/accept", fx.mod},
		{"/api/v1/applications/" + app + "/reject", fx.mod},
		{"/api/v1/spaces/jardin/deactivate", fx.mod},
		{"/api/v1/opening", fx.admin},
		{"/api/v1/moderators", fx.admin},
		{"/api/v1/upgrades", fx.admin},
	}
	for i := range endpoints {
		f.Add(uint8(i), `{}`)
		f.Add(uint8(i), `{"reason":"une raison"}`)
	}
	f.Add(uint8(0), `{"token":"abc.def"}`)
	f.Add(uint8(5), `{"closed":"oui","max_spaces":-3}`)
	f.Add(uint8(5), `{"message":"`+strings.Repeat("é", models.MaxOpeningMessageLength+1)+`"}`)
	f.Add(uint8(6), `{"name":"","role":"root"}`)
	f.Add(uint8(7), `{"target":"","canary":-1,"max_failure_ratio":2}`)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		e := endpoints[int(which)%len(endpoints)]
		fx.fuzzPost(t, e.path, e.token, "application/json", body)
	})
}

// modelApplication records one application for the decisions to be about.
func modelApplication(f *testing.F, fx *fixture) string {
	f.Helper()
	w := fx.do(http.MethodPost, "/api/v1/applications", "", with(map[string]any{"slug": "decision", "contact_email": "d@example.org"}))
	require.Equal(f, http.StatusCreated, w.Code, w.Body.String())
	var resp submissionResponse
	require.NoError(f, json.Unmarshal(w.Body.Bytes(), &resp))
	return resp.ID
}
