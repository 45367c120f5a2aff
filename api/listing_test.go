package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/worker/bench"
)

// walkList follows a list's next_cursor from its first page and returns its pages.
func walkList[T any](t *testing.T, f *fixture, path string) []listResponse[T] {
	t.Helper()
	var pages []listResponse[T]
	for next := path; ; {
		w := f.do("GET", next, f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var page listResponse[T]
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
		pages = append(pages, page)
		if page.NextCursor == "" {
			return pages
		}
		require.Less(t, len(pages), 100, "the cursors do not end")
		u, err := url.Parse(path)
		require.NoError(t, err)
		q := u.Query()
		q.Set("cursor", page.NextCursor)
		next = u.Path + "?" + q.Encode()
	}
}

// walkBack follows prev_cursor from the last of pages (as walkList returned them)
// back to the first, and checks each page against the one read forward.
func walkBack[T any](t *testing.T, f *fixture, path string, pages []listResponse[T]) {
	t.Helper()
	u, err := url.Parse(path)
	require.NoError(t, err)
	page := pages[len(pages)-1]
	for i := len(pages) - 2; i >= 0; i-- {
		require.NotEmpty(t, page.PrevCursor, "page %d has no way back", i+2)
		q := u.Query()
		q.Set("cursor", page.PrevCursor)
		w := f.do("GET", u.Path+"?"+q.Encode(), f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		page = listResponse[T]{}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
		assert.Equal(t, i+1, page.Page)
		assert.Equal(t, pages[i].Items, page.Items, "page %d read back", i+1)
		assert.Equal(t, pages[i].NextCursor, page.NextCursor, "page %d read back", i+1)
	}
	assert.Empty(t, page.PrevCursor, "the first page has nothing before it")
}

func TestListPagesByCursor(t *testing.T) {
	f := newFixture(t)
	const n = listCountCap + 120
	_, _, err := bench.FillFleet(context.Background(), f.db, n, 100)
	require.NoError(t, err)

	t.Run("the applications' cursors go through every application once, newest first, and say the total is capped", func(t *testing.T) {
		pages := walkList[applicationSummary](t, f, "/api/v1/applications")
		require.Len(t, pages, (n+pageSize-1)/pageSize)
		seen := map[string]bool{}
		var last applicationSummary
		for i, p := range pages {
			assert.Equal(t, i+1, p.Page)
			assert.EqualValues(t, listCountCap, p.Total)
			assert.True(t, p.TotalCapped)
			for _, a := range p.Items {
				assert.False(t, seen[a.ID], "application %s listed twice", a.Slug)
				seen[a.ID] = true
				if last.ID != "" {
					assert.False(t, a.SubmittedAt.After(last.SubmittedAt), "%s after %s", a.Slug, last.Slug)
				}
				last = a
			}
		}
		assert.Len(t, seen, n)
	})

	t.Run("prev_cursor goes back through the same pages, to the first", func(t *testing.T) {
		for _, path := range []string{"/api/v1/applications?status=submitted", "/api/v1/applications"} {
			pages := walkList[applicationSummary](t, f, path)
			require.Greater(t, len(pages), 3)
			assert.Empty(t, pages[0].PrevCursor)
			walkBack(t, f, path, pages)
		}
		pages := walkList[spaceView](t, f, "/api/v1/spaces")
		walkBack(t, f, "/api/v1/spaces", pages)
	})

	t.Run("a search stops counting sooner, and still pages through every match", func(t *testing.T) {
		for _, path := range []string{"/api/v1/applications?q=Association", "/api/v1/spaces?q=asso-"} {
			w := f.do("GET", path, f.mod, nil)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var page listResponse[json.RawMessage]
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
			assert.EqualValues(t, searchCountCap, page.Total, path)
			assert.True(t, page.TotalCapped, path)
		}
		matches := 0
		for _, p := range walkList[applicationSummary](t, f, "/api/v1/applications?q=Association") {
			matches += len(p.Items)
		}
		assert.Equal(t, n, matches)
	})

	t.Run("a page by its number is the page its cursor opens", func(t *testing.T) {
		pages := walkList[applicationSummary](t, f, "/api/v1/applications?status=submitted")
		require.Greater(t, len(pages), 3)
		w := f.do("GET", "/api/v1/applications?status=submitted&page=3", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var byNumber listResponse[applicationSummary]
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &byNumber))
		assert.Equal(t, pages[2].Items, byNumber.Items)
		assert.Equal(t, pages[2].NextCursor, byNumber.NextCursor)
	})

	t.Run("a list under the cap is counted exactly, and its last page has no cursor", func(t *testing.T) {
		var want int64
		require.NoError(t, f.db.Model(&models.Space{}).Where("status = ?", models.StatusRejected).Count(&want).Error)
		require.Less(t, want, int64(listCountCap))
		pages := walkList[spaceView](t, f, "/api/v1/spaces?status=rejected")
		got := 0
		for _, p := range pages {
			assert.Equal(t, want, p.Total)
			assert.False(t, p.TotalCapped)
			got += len(p.Items)
		}
		assert.EqualValues(t, want, got)
	})

	t.Run("the spaces' cursors go through every space once, newest first", func(t *testing.T) {
		pages := walkList[spaceView](t, f, "/api/v1/spaces")
		seen := map[string]bool{}
		for _, p := range pages {
			assert.True(t, p.TotalCapped)
			for _, sp := range p.Items {
				assert.False(t, seen[sp.Slug], "space %s listed twice", sp.Slug)
				seen[sp.Slug] = true
			}
		}
		assert.Len(t, seen, n)
	})

	t.Run("a cursor the list did not give is refused, naming the field, and changes nothing", func(t *testing.T) {
		before := f.count(&models.Application{})
		spacesPage := walkList[spaceView](t, f, "/api/v1/spaces?status=rejected")[0]
		require.NotEmpty(t, spacesPage.NextCursor)
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, path := range []string{
			"/api/v1/applications?cursor=pas-un-curseur",
			"/api/v1/applications?cursor=" + enc("2|hier|x"),
			"/api/v1/applications?cursor=" + enc("0|2025-01-01T00:00:00Z|00000000-0000-0000-0000-000000000000"),
			"/api/v1/applications?cursor=" + enc("<0|2025-01-01T00:00:00Z|00000000-0000-0000-0000-000000000000"),
			"/api/v1/applications?cursor=" + enc("1|2025-01-01T00:00:00Z|00000000-0000-0000-0000-000000000000"),
			"/api/v1/applications?cursor=" + spacesPage.NextCursor, // a space's cursor holds no application
			"/api/v1/applications?page=2&cursor=" + spacesPage.NextCursor,
			"/api/v1/spaces?cursor=" + enc("2|2025-01-01T00:00:00Z|asso-000001"),
		} {
			w := f.do("GET", path, f.mod, nil)
			require.Equal(t, http.StatusBadRequest, w.Code, path)
			assert.Equal(t, "cursor", errorOf(t, w).Field, path)
		}
		assert.Equal(t, before, f.count(&models.Application{}))
	})

	t.Run("the console says there are more than 1 000 and links the next page by its cursor", func(t *testing.T) {
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		require.Equal(t, http.StatusSeeOther, v.signIn("camille@example.org", password).Code)
		page := v.get("/moderation/demandes")
		require.Equal(t, http.StatusOK, page.Code)
		body := page.Body.String()
		assert.Contains(t, body, "Plus de 1\u202f000 demandes.")
		assert.Contains(t, body, "Page 1 sur plus de 20")
		m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body)
		require.NotNil(t, m, body)
		next := html.UnescapeString(m[1])
		assert.Contains(t, next, "cursor=")
		page = v.get(next)
		require.Equal(t, http.StatusOK, page.Code, next)
		assert.Contains(t, page.Body.String(), "Page 2 sur plus de 20")
		assert.Contains(t, page.Body.String(), `href="/moderation/demandes" rel="prev"`)

		page = v.get("/moderation/espaces?cursor=nimporte")
		assert.Equal(t, http.StatusBadRequest, page.Code)
		assert.Contains(t, page.Body.String(), "curseur invalide")
	})
}
