package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"jardinier/models"
)

// The fuzz targets send any body to the forms and JSON requests of the API. Whatever
// the body, the answer is never a 5xx, and a refusal changes nothing. `make test` runs
// their seed corpus (testdata/fuzz) as ordinary tests, then `make fuzz` searches each
// target for FUZZTIME more; to search one further:
//
//	go test ./api -run '^$' -fuzz FuzzApplicationForm -fuzztime 60s

// fuzzFixture is one server for every input of a fuzz target, without rate limits,
// whose workflows are all gone (an update finds no workflow).
func fuzzFixture(f *testing.F) *fixture {
	fx := newFixture(f, func(c *models.Config) { c.SubmitRate = 1 << 30 })
	fx.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, serviceerror.NewNotFound("no workflow"))
	// The pages read the policy in force, which writes its first version on a database
	// without one: written here, it is no change of a request's.
	_, err := models.CurrentPolicy(f.Context(), fx.db, fx.server.cfg.Policy)
	require.NoError(f, err)
	return fx
}

// dbState is what a refused request must leave as it was.
type dbState struct {
	Applications, Spaces, Moderators, Events, Upgrades, Policies, Tokens int64
	Opening                                                              models.Opening
	// Contacts is every application's contact address, in order: a change of address
	// refused must leave them all.
	Contacts string
}

func (fx *fixture) state(t *testing.T) dbState {
	t.Helper()
	var st dbState
	for table, n := range map[string]*int64{"applications": &st.Applications, "spaces": &st.Spaces,
		"moderators": &st.Moderators, "audit_events": &st.Events, "upgrade_spaces": &st.Upgrades,
		"policy_versions": &st.Policies, "api_tokens": &st.Tokens} {
		require.NoError(t, fx.db.Table(table).Count(n).Error)
	}
	require.NoError(t, fx.db.Table("applications").Select("coalesce(string_agg(contact_email, ',' ORDER BY id), '')").Scan(&st.Contacts).Error)
	o, err := models.LoadOpening(t.Context(), fx.db)
	require.NoError(t, err)
	o.UpdatedAt = o.UpdatedAt.UTC()
	st.Opening = o
	return st
}

// fuzzPost posts body to path and checks the rule of every fuzz target.
func (fx *fixture) fuzzPost(t *testing.T, path, token, contentType, body string) {
	t.Helper()
	fx.fuzzSend(t, http.MethodPost, path, token, contentType, body)
}

// fuzzSend sends body to path with method and checks the rule of every fuzz target.
func (fx *fixture) fuzzSend(t *testing.T, method, path, token, contentType, body string) {
	t.Helper()
	before := fx.state(t)
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "203.0.113.9:1234"
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	fx.handler.ServeHTTP(w, req)
	checkContract(t, req, []byte(body), w)
	if w.Code >= 500 {
		t.Fatalf("%s %s answered %d for %q: %s", method, path, w.Code, body, w.Body.String())
	}
	if w.Code >= 400 {
		// What a request passes on after its answer counts too.
		fx.server.background.Wait()
		if after := fx.state(t); after != before {
			t.Fatalf("%s %s refused %q with %d but changed the database: %+v, then %+v", method, path, body, w.Code, before, after)
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
// moderators' and admins'. The corpus names an endpoint by its index: add new ones at
// the end.
func FuzzJSONRequests(f *testing.F) {
	fx := fuzzFixture(f)
	app := modelApplication(f, fx)
	fx.spaceWithContact("jardin", models.StatusActive)
	endpoints := []struct{ method, path, token string }{
		{http.MethodPost, "/api/v1/follow/withdraw", ""},
		{http.MethodPost, "/api/v1/spaces/jardin/request-deletion", ""},
		{http.MethodPost, "/api/v1/applications/" + app + "/accept", fx.mod},
		{http.MethodPost, "/api/v1/applications/" + app + "/reject", fx.mod},
		{http.MethodPost, "/api/v1/spaces/jardin/deactivate", fx.mod},
		{http.MethodPost, "/api/v1/opening", fx.admin},
		{http.MethodPost, "/api/v1/moderators", fx.admin},
		{http.MethodPost, "/api/v1/upgrades", fx.admin},
		{http.MethodPost, "/api/v1/applications/" + app + "/hold", fx.mod},
		{http.MethodPost, "/api/v1/spaces/jardin/reactivate", fx.mod},
		{http.MethodPost, "/api/v1/spaces/jardin/delete", fx.mod},
		{http.MethodPost, "/api/v1/spaces/jardin/exempt", fx.mod},
		{http.MethodPost, "/api/v1/spaces/jardin/unexempt", fx.mod},
		{http.MethodPut, "/api/v1/policy", fx.admin},
		{http.MethodPost, "/api/v1/upgrades/u-1/pause", fx.admin},
		{http.MethodPost, "/api/v1/upgrades/u-1/resume", fx.admin},
		{http.MethodPost, "/api/v1/upgrades/u-1/abort", fx.admin},
		{http.MethodPost, "/api/v1/spaces/jardin/request-contact-change", ""},
		{http.MethodPost, "/api/v1/contact-change/confirm", ""},
		{http.MethodPost, "/api/v1/spaces/jardin/request-reactivation-link", ""},
		{http.MethodPost, "/api/v1/spaces/jardin/request-deactivation", ""},
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
	f.Add(uint8(13), `{"policy":"warn1=60d,warn2=75d,deactivate=90d,notice=105d,delete=120d","reason":"même politique"}`)
	f.Add(uint8(13), `{"policy":"warn1=90d,warn2=75d","reason":""}`)
	f.Add(uint8(17), `{"new_email":"nouveau@asso.example"}`)
	f.Add(uint8(17), `{"new_email":"jardin@asso.example"}`)
	f.Add(uint8(17), `{"new_email":["a@b.example"]}`)
	f.Add(uint8(18), `{"token":"`+fx.link("jardin", models.PurposeContactNew, 1, time.Now().Add(time.Hour))+`"}`)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		e := endpoints[int(which)%len(endpoints)]
		fx.fuzzSend(t, e.method, e.path, e.token, "application/json", body)
	})
}

// FuzzSpaceForm posts any body to the forms of a space's contact: /espace, which asks
// for a link (a change of address too), and the page behind a link of a change of
// address.
func FuzzSpaceForm(f *testing.F) {
	fx := fuzzFixture(f)
	fx.spaceWithContact("jardin", models.StatusActive)
	current := fx.link("jardin", models.PurposeContactCurrent, 1, time.Now().Add(time.Hour))
	paths := []string{"/espace", "/espace/contact?token=" + url.QueryEscape(current)}
	f.Add(uint8(0), "slug=jardin&request=contact_change&new_email=nouveau%40asso.example")
	f.Add(uint8(0), "slug=jardin&request=contact_change&new_email=")
	f.Add(uint8(0), "slug=Pas+Un+Nom&request=deletion&new_email=%ZZ")
	f.Add(uint8(0), "request=reactivation_link&request=deletion&slug=jardin&slug=autre")
	f.Add(uint8(1), "")
	f.Add(uint8(1), "token=abc.def")
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		fx.fuzzPost(t, paths[int(which)%len(paths)], "", "application/x-www-form-urlencoded", body)
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
