package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// moderatorRequest creates a moderator.
type moderatorRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// moderatorView is a moderator as admins see them; the token is only in the creation
// answer.
type moderatorView struct {
	ID        uint        `json:"id"`
	Name      string      `json:"name"`
	Role      models.Role `json:"role"`
	CreatedAt time.Time   `json:"created_at"`
	Token     string      `json:"token,omitempty"`
}

func (s *Server) createModerator(c *gin.Context) {
	var req moderatorRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	token, m, err := models.CreateModerator(c.Request.Context(), s.db, req.Name, models.Role(req.Role))
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.logger.Info("Moderator created", "name", m.Name, "role", m.Role, "by", currentModerator(c).Name)
	c.JSON(http.StatusCreated, moderatorView{ID: m.ID, Name: m.Name, Role: m.Role, CreatedAt: m.CreatedAt, Token: token})
}

func (s *Server) listModerators(c *gin.Context) {
	var rows []models.Moderator
	if err := s.db.WithContext(c.Request.Context()).Order("name").Find(&rows).Error; err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]moderatorView, 0, len(rows))
	for _, m := range rows {
		out = append(out, moderatorView{ID: m.ID, Name: m.Name, Role: m.Role, CreatedAt: m.CreatedAt})
	}
	c.JSON(http.StatusOK, gin.H{"items": out})
}
