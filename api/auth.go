package api

import (
	"strings"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// moderatorKey holds the authenticated moderator in the request context.
const moderatorKey = "moderator"

// authenticate requires a bearer token of an enabled moderator whose role allows want.
// The console's pages authenticate by session instead (requireSession).
func (s *Server) authenticate(want models.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || token == "" {
			s.writeError(c, models.Errorf(models.EUNAUTHORIZED, "jeton d'accès manquant (en-tête Authorization: Bearer ...)"))
			return
		}
		m, err := models.ModeratorByToken(c.Request.Context(), s.db, strings.TrimSpace(token), s.now().UTC())
		if err != nil {
			s.writeError(c, err)
			return
		}
		if !m.Role.Allows(want) {
			s.writeError(c, models.Errorf(models.EFORBIDDEN, "réservé au rôle %s", want))
			return
		}
		c.Set(moderatorKey, m)
		c.Next()
	}
}

func currentModerator(c *gin.Context) *models.Moderator {
	return c.MustGet(moderatorKey).(*models.Moderator)
}
