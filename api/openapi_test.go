package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// apiPrefix is the prefix of the JSON API; the document's paths are relative to it.
const apiPrefix = "/api/v1"

// contract is the OpenAPI document, loaded once for all the tests of the package.
type contract struct {
	doc   *openapi3.T
	paths []contractPath
}

// contractPath is one path of the document, cut into segments to match requests.
type contractPath struct {
	template string
	segments []string
	item     *openapi3.PathItem
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	// The statistics' CSV is French (semicolons, sections of different widths): the
	// document says it is text, not a grid of one width as kin-openapi's decoder expects.
	openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.FileBodyDecoder)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	c := &contract{doc: doc}
	for tmpl, item := range doc.Paths.Map() {
		c.paths = append(c.paths, contractPath{template: tmpl, segments: strings.Split(strings.Trim(tmpl, "/"), "/"), item: item})
	}
	return c, nil
})

// route finds the document's operation for a request path under /api/v1. As in gin, a
// literal segment wins over a parameter (/spaces/{slug}/office before /spaces/{slug}/{action}).
func (c *contract) route(method, path string) (*routers.Route, map[string]string) {
	segments := strings.Split(strings.Trim(strings.TrimPrefix(path, apiPrefix), "/"), "/")
	var best *routers.Route
	var bestParams map[string]string
	bestLiterals := -1
	for _, p := range c.paths {
		op := p.item.GetOperation(method)
		if op == nil || len(p.segments) != len(segments) {
			continue
		}
		params, literals, ok := map[string]string{}, 0, true
		for i, s := range p.segments {
			if name, isParam := strings.CutPrefix(s, "{"); isParam {
				params[strings.TrimSuffix(name, "}")] = segments[i]
			} else if s == segments[i] {
				literals++
			} else {
				ok = false
				break
			}
		}
		if ok && literals > bestLiterals {
			best = &routers.Route{Spec: c.doc, Path: p.template, PathItem: p.item, Method: method, Operation: op}
			bestParams, bestLiterals = params, literals
		}
	}
	return best, bestParams
}

// errNoBearer is the answer of the document's security check to a request without a token.
var errNoBearer = errors.New("no bearer token")

// checkContract validates one request and its response against the document: a
// request the document refuses must be refused (4xx), and every response must match.
// Only the JSON API is checked; pages are HTML.
func checkContract(t testing.TB, req *http.Request, body []byte, w *httptest.ResponseRecorder) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, apiPrefix+"/") {
		return
	}
	c, err := loadContract()
	require.NoError(t, err, "load the OpenAPI document")
	route, params := c.route(req.Method, req.URL.Path)
	if route == nil {
		if w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
			t.Errorf("OpenAPI: %s %s answered %d but has no operation in api/openapi.json", req.Method, req.URL.Path, w.Code)
		}
		return
	}
	req = req.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			MultiError: true,
			AuthenticationFunc: func(_ context.Context, a *openapi3filter.AuthenticationInput) error {
				if !strings.HasPrefix(a.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
					return errNoBearer
				}
				return nil
			},
		},
	}
	ctx := context.Background()
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && w.Code < 400 {
		t.Errorf("OpenAPI: %s %s is outside the document but answered %d:\n%v", req.Method, route.Path, w.Code, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: w.Code, Header: w.Header(),
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	out.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("OpenAPI: the answer %d to %s %s does not match the document:\n%v\n%s", w.Code, req.Method, route.Path, err, w.Body.String())
	}
}

func TestOpenAPIDocument(t *testing.T) {
	c, err := loadContract()
	require.NoError(t, err)
	assert.Equal(t, "3.1.0", c.doc.OpenAPI)
	f := newFixture(t)

	t.Run("the API serves it", func(t *testing.T) {
		w := f.do(http.MethodGet, apiPrefix+openAPIPath, "", nil)
		require.Equal(t, http.StatusOK, w.Code)
		assert.JSONEq(t, string(openAPIDocument), w.Body.String())
	})

	t.Run("it lists exactly the routes of the API", func(t *testing.T) {
		var routes []string
		for _, r := range f.handler.(*gin.Engine).Routes() {
			path, ok := strings.CutPrefix(r.Path, apiPrefix)
			if !ok {
				continue
			}
			segments := strings.Split(path, "/")
			for i, s := range segments {
				if len(s) > 0 && (s[0] == ':' || s[0] == '*') {
					segments[i] = "{" + s[1:] + "}"
				}
			}
			routes = append(routes, r.Method+" "+strings.Join(segments, "/"))
		}
		var documented []string
		for tmpl, item := range c.doc.Paths.Map() {
			for method := range item.Operations() {
				documented = append(documented, method+" "+tmpl)
			}
		}
		slices.Sort(routes)
		slices.Sort(documented)
		assert.Equal(t, routes, documented, "routes of Handler (left) and operations of api/openapi.json (right)")
	})

	t.Run("every operation says what it does in French", func(t *testing.T) {
		for tmpl, item := range c.doc.Paths.Map() {
			for method, op := range item.Operations() {
				assert.NotEmpty(t, op.Summary, "%s %s", method, tmpl)
				assert.NotEmpty(t, op.Description, "%s %s", method, tmpl)
			}
		}
	})
}
