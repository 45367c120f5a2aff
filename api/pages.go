package api

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	// The API may run from an image without a zoneinfo database; dates on pages must
	// still be those of Paris.
	_ "time/tzdata"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

//go:embed templates
var pageFS embed.FS

// pageLanguage is the language of every page: the service and its support are French
// only.
const pageLanguage = "fr"

// The HTML pages, one file each under templates/<language>/, drawn inside layout.html.
// Each file defines a "title" and a "content" template.
const (
	pageDeactivated = "deactivated"  // a deactivated space, and how to bring it back
	pageReactivate  = "reactivate"   // the form behind a reactivation link
	pageReactivated = "reactivated"  // the space is back in service
	pageConfirm     = "confirm"      // the form behind a confirmation link
	pageConfirmed   = "confirmed"    // the deactivation or deletion is recorded
	pageLinkInvalid = "link_invalid" // a link that was cut or forged
	pageLinkExpired = "link_expired" // a link past its date, or whose space is gone
	pageLinkUsed    = "link_used"    // a link already used, or superseded
	pageNotFound    = "not_found"    // nothing at this address
	pageUnavailable = "unavailable"  // a dependency is down or unconfigured
	pageError       = "error"        // anything else
)

var pageNames = []string{pageDeactivated, pageReactivate, pageReactivated, pageConfirm, pageConfirmed,
	pageLinkInvalid, pageLinkExpired, pageLinkUsed, pageNotFound, pageUnavailable, pageError}

// pageSecurityHeaders keep the pages out of frames, caches and search engines, and keep
// the token of a link from leaking through a Referer header. The pages load nothing from
// elsewhere and post only to themselves.
var pageSecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"Cache-Control":           "no-store",
	"Referrer-Policy":         "no-referrer",
	"X-Content-Type-Options":  "nosniff",
	"X-Robots-Tag":            "noindex",
}

// pages are the parsed page templates of one language.
type pages struct {
	byName map[string]*template.Template
}

// pageData is what a page may show. Templates format dates with {{date .DeletionAt}},
// in their own language and in the service's time zone.
type pageData struct {
	Slug       string    // the space's name
	SpaceURL   string    // https://<slug>.<base domain>
	Token      string    // the link's token, for the form that acts on it
	Deletion   bool      // confirm, confirmed: a deletion rather than a deactivation
	DeletionAt time.Time // deactivated: when the space will be deleted; zero if unknown
}

// loadPages parses the embedded templates of a language, each page with the layout. It
// fails if a page is missing or does not define its parts, so that the API does not
// start with an incomplete set.
func loadPages(lang string) (*pages, error) {
	dateFormats := map[string]func(time.Time) string{"fr": models.FrenchDate}
	date, ok := dateFormats[lang]
	if !ok {
		return nil, fmt.Errorf("page templates: no language %q", lang)
	}
	dir := "templates/" + lang + "/"
	layout, err := template.New("layout.html").Funcs(template.FuncMap{"date": date}).
		Option("missingkey=error").ParseFS(pageFS, dir+"layout.html")
	if err != nil {
		return nil, fmt.Errorf("page templates: %w", err)
	}
	p := &pages{byName: make(map[string]*template.Template, len(pageNames))}
	for _, name := range pageNames {
		t, err := layout.Clone()
		if err == nil {
			t, err = t.ParseFS(pageFS, dir+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("page templates: %w", err)
		}
		for _, part := range []string{"title", "content"} {
			if t.Lookup(part) == nil {
				return nil, fmt.Errorf("page templates: %s%s.html defines no %q", dir, name, part)
			}
		}
		p.byName[name] = t
	}
	return p, nil
}

// renderPage answers with an HTML page.
func (s *Server) renderPage(c *gin.Context, status int, name string, data pageData) {
	var buf bytes.Buffer
	t, ok := s.pages.byName[name]
	if !ok {
		s.logger.Error("Render page", "page", name, "error", "no such page")
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.logger.Error("Render page", "page", name, "error", err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	for k, v := range pageSecurityHeaders {
		c.Header(k, v)
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	c.Abort()
}

// writePageError answers an error with the page that explains it; an internal error is
// logged with its context and the visitor sees a plain page, never its details.
func (s *Server) writePageError(c *gin.Context, err error) {
	switch models.ErrorCode(err) {
	case models.ENOTFOUND:
		s.renderPage(c, http.StatusNotFound, pageNotFound, pageData{})
	case models.EUNAVAILABLE:
		s.renderPage(c, http.StatusServiceUnavailable, pageUnavailable, pageData{})
	default:
		s.logger.Error("Internal error", "method", c.Request.Method, "path", c.FullPath(), "error", err)
		s.renderPage(c, http.StatusInternalServerError, pageError, pageData{})
	}
}
