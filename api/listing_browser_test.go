package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"jardinier/api/browsertest"
	"jardinier/models"
	"jardinier/worker/bench"
)

// TestLongListsInABrowser is a moderator's visit of lists longer than their count's
// cap, in a real Chromium: the total said as a bound, the next page followed by its
// cursor; screenshots under .screenshots/, no serious axe-core violation.
func TestLongListsInABrowser(t *testing.T) {
	b := browsertest.Start(t)
	f := newFixture(t)
	f.temporal.On("QueryWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, errors.New("no worker")).Maybe()
	f.temporal.On("ListWorkflow", mock.Anything, mock.Anything).
		Return(&workflowservice.ListWorkflowExecutionsResponse{}, nil).Maybe()
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	_, _, err := bench.FillFleet(context.Background(), f.db, listCountCap+120, listCountCap+120)
	require.NoError(t, err)
	f.member("Camille", models.RoleModerator, "camille@example.org")

	tab := b.NewTab(t)
	tab.Open(t, srv.URL+"/moderation/connexion")
	tab.Leave(t,
		chromedp.SendKeys(`#email`, "camille@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
	)
	for _, l := range []struct{ path, shot, total string }{
		{"/moderation/demandes", "console-demandes-plus-de-1000", "Plus de 1\u202f000 demandes."},
		{"/moderation/espaces", "console-espaces-plus-de-1000", "Plus de 1\u202f000 espaces."},
	} {
		t.Run(l.path+" dit « plus de » et suit les pages suivante et précédente par leur curseur", func(t *testing.T) {
			tab.Open(t, srv.URL+l.path)
			assert.Contains(t, tab.TextNow(t, "main"), l.total)
			assert.Contains(t, tab.Text(t, "nav.pager"), "Page 1 sur plus de "+strconv.Itoa(listCountCap/pageSize))
			tab.Check(t, l.shot)
			tab.Leave(t, chromedp.Click(`nav.pager a[rel=next]`, chromedp.ByQuery))
			assert.Contains(t, tab.URL(t), "cursor=")
			assert.Contains(t, tab.Text(t, "nav.pager"), "Page 2 sur plus de "+strconv.Itoa(listCountCap/pageSize))
			assert.Contains(t, tab.Text(t, "nav.pager"), "Page précédente")
			tab.Check(t, l.shot+"-page-2")

			// Back from page 3 by its cursor too, not by skipping two pages.
			first := tab.Text(t, "tbody tr")
			tab.Leave(t, chromedp.Click(`nav.pager a[rel=next]`, chromedp.ByQuery))
			assert.Contains(t, tab.Text(t, "nav.pager"), "Page 3 sur")
			tab.Leave(t, chromedp.Click(`nav.pager a[rel=prev]`, chromedp.ByQuery))
			assert.Contains(t, tab.URL(t), "cursor=")
			assert.NotContains(t, tab.URL(t), "page=")
			assert.Contains(t, tab.Text(t, "nav.pager"), "Page 2 sur")
			assert.Equal(t, first, tab.Text(t, "tbody tr"), "the same page 2")
		})
	}
	t.Run("une recherche compte jusqu'à 200", func(t *testing.T) {
		tab.Open(t, srv.URL+"/moderation/demandes?q=Association")
		assert.Contains(t, tab.TextNow(t, "main"), "Plus de 200 demandes.")
		assert.Contains(t, tab.Text(t, "nav.pager"), "Page 1 sur plus de 4")
		tab.Check(t, "console-demandes-recherche-plus-de-200")
	})
}
