package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// crossOrigin refuses every state-changing request a browser sends from another site,
// with Go's net/http.CrossOriginProtection: it reads Sec-Fetch-Site, or compares Origin
// with Host. Requests without those headers (curl, scripts of the moderators) are not
// from a browser and pass; GET, HEAD and OPTIONS always pass, and change nothing.
// PUBLIC_URL is trusted too, for a proxy that rewrites Host.
func crossOrigin(publicURL string) (*http.CrossOriginProtection, error) {
	p := http.NewCrossOriginProtection()
	if err := p.AddTrustedOrigin(strings.TrimRight(publicURL, "/")); err != nil {
		return nil, fmt.Errorf("PUBLIC_URL as a trusted origin: %w", err)
	}
	// The Temporal UI decodes payloads from its own origin; decoding changes nothing,
	// and CORS (codecCORS) decides who may read the answer.
	p.AddInsecureBypassPattern("POST " + codecPrefix + "/")
	return p, nil
}

// refuseCrossOrigin is the middleware of crossOrigin: a refused request changes nothing
// and is answered with a page, or the JSON error under /api/.
func (s *Server) refuseCrossOrigin(p *http.CrossOriginProtection) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := p.Check(c.Request); err != nil {
			s.logger.Warn("Cross-origin request refused", "method", c.Request.Method, "path", c.Request.URL.Path)
			if isAPIPath(c.Request.URL.Path) {
				s.writeError(c, models.Errorf(models.EFORBIDDEN, "requête envoyée depuis un autre site, refusée"))
			} else {
				s.renderPage(c, http.StatusForbidden, pageForbidden, pageData{})
			}
			return
		}
		c.Next()
	}
}

// isAPIPath tells the JSON API from the pages.
func isAPIPath(path string) bool { return strings.HasPrefix(path, "/api/") }
