package api

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"jardinier/models"
)

// moderatorKey holds the authenticated moderator in the request context.
const moderatorKey = "moderator"

// authenticate requires a bearer token of a moderator whose role allows want.
func (s *Server) authenticate(want models.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || token == "" {
			s.writeError(c, models.Errorf(models.EUNAUTHORIZED, "jeton d'accès manquant (en-tête Authorization: Bearer ...)"))
			return
		}
		var m models.Moderator
		err := s.db.WithContext(c.Request.Context()).Where("token_hash = ?", models.HashToken(strings.TrimSpace(token))).First(&m).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			s.writeError(c, models.Errorf(models.EUNAUTHORIZED, "jeton d'accès invalide"))
			return
		} else if err != nil {
			s.writeError(c, err)
			return
		}
		if !m.Role.Allows(want) {
			s.writeError(c, models.Errorf(models.EFORBIDDEN, "réservé au rôle %s", want))
			return
		}
		c.Set(moderatorKey, &m)
		c.Next()
	}
}

func currentModerator(c *gin.Context) *models.Moderator {
	return c.MustGet(moderatorKey).(*models.Moderator)
}
