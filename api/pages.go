package api

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	// The API may run from an image without a zoneinfo database; dates on pages must
	// still be those of Paris.
	_ "time/tzdata"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

//go:embed templates
var pageFS embed.FS

//go:embed static
var staticFS embed.FS

// pageLanguage is the language of every page: the service and its support are French
// only.
const pageLanguage = "fr"

// pageLayout is the file every page is drawn inside.
const pageLayout = "layout.html"

// The HTML pages the Go code names. Every file under templates/<language>/, subfolders
// included, is a page named by its path without ".html" (e.g. "moderation/home"), drawn
// inside layout.html: adding a page means adding a file. Each file defines a "title"
// and a "content" template, and may define "head" to add a stylesheet or script.
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
	pageForbidden   = "forbidden"    // a form posted from another site
	pageError       = "error"        // anything else
)

// pageNames are the pages the Go code renders: the API does not start without them.
var pageNames = []string{pageDeactivated, pageReactivate, pageReactivated, pageConfirm, pageConfirmed,
	pageLinkInvalid, pageLinkExpired, pageLinkUsed, pageNotFound, pageUnavailable, pageForbidden, pageError,
	pageHome, pageApply, pageApplied, pageClosed, pageLimited, pageFollow, pageWithdrawn, pageSpace, pageRequested, pageTerms,
	pageContactConfirm, pageContactConfirmed}

// pageCSP allows the pages nothing from elsewhere and nothing inline: styles and scripts
// come from the files under /static/, forms post only to this site.
// connect-src lets the form's script ask this site whether a slug is free.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageSecurityHeaders keep the pages out of frames, caches and search engines, and keep
// the token of a link from leaking through a Referer header.
var pageSecurityHeaders = map[string]string{
	"Content-Security-Policy": pageCSP,
	"Cache-Control":           "no-store",
	"Referrer-Policy":         "no-referrer",
	"X-Content-Type-Options":  "nosniff",
	"X-Robots-Tag":            "noindex",
}

// pages are the parsed page templates of one language.
type pages struct {
	byName map[string]*template.Template
}

// pageData is what the pages of a contact's links may show. Templates format dates with
// {{date .DeletionAt}}, in their own language and in the service's time zone. Other
// pages are given their own struct.
type pageData struct {
	Slug     string // the space's name
	SpaceURL string // https://<slug>.<base domain>
	Token    string // the link's token, for the form that acts on it
	Deletion bool   // confirm, confirmed: a deletion rather than a deactivation
	// Office is, on confirm and confirmed, the office suite a switch goes to; "" for a
	// deactivation or a deletion.
	Office     models.OfficeSuite
	DeletionAt time.Time // deactivated: when the space will be deleted; zero if unknown
}

// loadPages parses every embedded template of a language, each page with the layout. It
// fails if a page the code names is missing or a page does not define its parts, so that
// the API does not start with an incomplete set.
func loadPages(lang string) (*pages, error) {
	dateFormats := map[string]func(time.Time) string{"fr": models.FrenchDate}
	durationFormats := map[string]func(time.Duration) string{"fr": models.FrenchDuration}
	date, ok := dateFormats[lang]
	if !ok {
		return nil, fmt.Errorf("page templates: no language %q", lang)
	}
	funcs := template.FuncMap{"date": date, "duration": durationFormats[lang], "dict": dict, "deref": derefTime, "sentence": sentence}
	dir := "templates/" + lang
	layout, err := template.New(pageLayout).Funcs(funcs).
		Option("missingkey=error").ParseFS(pageFS, dir+"/"+pageLayout)
	if err != nil {
		return nil, fmt.Errorf("page templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	err = fs.WalkDir(pageFS, dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(file, ".html") || file == dir+"/"+pageLayout {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(file, dir+"/"), ".html")
		t, err := layout.Clone()
		if err != nil {
			return err
		}
		// Parsed under its own name so that two pages with the same base name in
		// different folders do not collide.
		text, err := fs.ReadFile(pageFS, file)
		if err == nil {
			_, err = t.New(name).Parse(string(text))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for _, part := range []string{"title", "content"} {
			if t.Lookup(part) == nil {
				return fmt.Errorf("%s defines no %q", file, part)
			}
		}
		p.byName[name] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("page templates: %w", err)
	}
	for _, name := range pageNames {
		if p.byName[name] == nil {
			return nil, fmt.Errorf("page templates: no %s/%s.html", dir, name)
		}
	}
	return p, nil
}

// staticFiles serves the stylesheets and scripts of the pages. They change only with
// the program, so a browser may keep them for an hour.
func staticFiles() gin.HandlerFunc {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the folder is embedded: only a build without it gets here
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.Header("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(c.Writer, c.Request)
	}
}

// renderPage answers with an HTML page.
func (s *Server) renderPage(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	t, ok := s.pages.byName[name]
	if !ok {
		s.logger.Error("Render page", "page", name, "error", "no such page")
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, pageLayout, data); err != nil {
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

// dict builds a map from pairs of arguments, for templates to hold their own words
// ({{$labels := dict "culture" "Culture"}}): French stays in the templates.
func dict(pairs ...string) (map[string]string, error) {
	if len(pairs)%2 != 0 {
		return nil, fmt.Errorf("dict: %d arguments, want pairs", len(pairs))
	}
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m, nil
}

// derefTime is the time behind an optional one, for {{date (deref .At)}}.
func derefTime(t *time.Time) time.Time { return deref(t) }

// sentence writes a message as a sentence of its own: capital first letter, full stop.
// The errors of the API are fragments that follow a field's name.
func sentence(msg string) string {
	r, size := utf8.DecodeRuneInString(msg)
	if size == 0 {
		return ""
	}
	msg = string(unicode.ToUpper(r)) + msg[size:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}
