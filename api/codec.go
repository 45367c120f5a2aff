package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/converter"

	"jardinier/models"
	"jardinier/workflows"
)

// codecPrefix is where the Temporal UI asks for payloads to be decoded (its "codec
// server"): POST /codec/decode and /codec/encode, Temporal's remote codec protocol.
const codecPrefix = "/codec"

// codecRoutes serves the payload codec to admins: with an admin's API token, or from
// the Temporal UI of an admin signed in to the console (its session cookie, sent with
// "include credentials"). The UI's origin (TEMPORAL_UI_URL) may read the answers;
// decoding changes nothing, so the cross-site check is left to CORS.
func (s *Server) codecRoutes(r *gin.Engine) error {
	if len(s.cfg.PayloadKeys) == 0 {
		return nil
	}
	codec, err := workflows.NewPayloadCodec(s.cfg.PayloadKeys)
	if err != nil {
		return err
	}
	h := converter.NewPayloadCodecHTTPHandler(codec)
	g := r.Group(codecPrefix, s.codecCORS)
	g.OPTIONS("/*op", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	g.POST("/:op", s.loadSession, s.codecAdmin, func(c *gin.Context) {
		if op := c.Param("op"); op != "decode" && op != "encode" {
			s.writeError(c, models.Errorf(models.ENOTFOUND, "adresse inconnue"))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, codecMaxBody)
		h.ServeHTTP(c.Writer, c.Request)
	})
	return nil
}

// codecMaxBody bounds what the UI sends to decode: a page of history events.
const codecMaxBody = 8 << 20

// codecAdmin lets through an admin, by API token or by verified console session.
func (s *Server) codecAdmin(c *gin.Context) {
	if v, ok := c.Get(sessionKey); ok {
		if sess := v.(*models.Session); sess.Verified && currentModerator(c).Role.Allows(models.RoleAdmin) {
			c.Next()
			return
		}
	}
	if strings.HasPrefix(c.GetHeader("Authorization"), "Bearer ") {
		s.authenticate(models.RoleAdmin)(c)
		return
	}
	s.writeError(c, models.Errorf(models.EUNAUTHORIZED, "réservé aux administrateurs : jeton d'accès (Authorization: Bearer ...) ou session de la console"))
}

// codecCORS lets the Temporal UI's origin call the codec with credentials.
func (s *Server) codecCORS(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin != "" && origin == uiOrigin(s.cfg.TemporalUIURL) {
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
		h.Set("Access-Control-Max-Age", "600")
		h.Add("Vary", "Origin")
	}
	c.Next()
}

// uiOrigin is the origin (scheme://host[:port]) of the Temporal UI's address.
func uiOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
