package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodPage = `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Bonne page</title></head>
<body><main><h1>Bonjour</h1><form method="post"><label for="nom">Nom</label><input id="nom" name="nom">
<button type="submit">Envoyer</button></form></main></body></html>`

// badPage breaks two serious rules (an image without text, a field without label), is
// wider than a phone, and runs an inline script its CSP forbids.
const badPage = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Mauvaise page</title></head>
<body><img src="/x.png"><input name="nom"><div style="width:2000px">large</div>
<script>document.title = "inline"</script></body></html>`

func servePages(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/bonne":
			w.Write([]byte(goodPage))
		case "/lente":
			// A form whose answer takes a moment, as a busy server's would, and whose
			// next page has the same heading element.
			if r.Method == http.MethodPost {
				time.Sleep(300 * time.Millisecond)
				w.Write([]byte(`<!DOCTYPE html><html lang="fr"><head><title>Suite</title></head><body><main><h1>Suite</h1></main></body></html>`))
				return
			}
			w.Write([]byte(`<!DOCTYPE html><html lang="fr"><head><title>Départ</title></head><body><main><h1>Départ</h1>
<form method="post" action="/lente"><button>Envoyer</button></form></main></body></html>`))
		case "/mauvaise":
			w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'")
			w.Write([]byte(badPage))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowser(t *testing.T) {
	b := Start(t)
	srv := servePages(t)

	t.Run("a good page passes the check and leaves a screenshot at both widths", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/bonne")
		assert.Equal(t, http.StatusOK, tab.Status())
		assert.Equal(t, "Bonjour", tab.Text(t, "h1"))
		tab.Check(t, "browsertest-bonne")
		for _, w := range []string{"1280", "320"} {
			png, err := os.ReadFile(filepath.Join(b.shots, "browsertest-bonne-"+w+".png"))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(png), "\x89PNG"), "screenshot is a PNG")
		}
	})

	t.Run("axe-core finds the serious violations of a bad page", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/mauvaise")
		var ids []string
		for _, v := range tab.Axe(t) {
			if seriousImpacts[v.Impact] {
				ids = append(ids, v.ID)
			}
		}
		assert.Contains(t, ids, "image-alt")
		assert.Contains(t, ids, "label")
	})

	t.Run("a script the page's CSP forbids is reported", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/mauvaise")
		tab.mu.Lock()
		problems := strings.Join(tab.problems, "\n")
		tab.mu.Unlock()
		assert.Contains(t, problems, "Content Security Policy")
	})

	t.Run("a form sent with Leave is read on the page it leads to, not the one it leaves", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/lente")
		tab.Leave(t, chromedp.Click(`form button`))
		assert.Equal(t, "Suite", tab.Text(t, "main h1"))
	})

	t.Run("a missing page's status is seen", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/absente")
		assert.Equal(t, http.StatusNotFound, tab.Status())
	})
}
