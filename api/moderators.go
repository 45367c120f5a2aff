package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"jardinier/models"
)

// CreateModerator records a new moderator and returns their API token, which is shown
// only this once: only its hash is stored.
func CreateModerator(ctx context.Context, db *gorm.DB, name string, role models.Role) (string, *models.Moderator, error) {
	name = strings.TrimSpace(name)
	if err := models.ValidateModerator(name, role); err != nil {
		return "", nil, err
	}
	token, hash := models.NewToken()
	m := &models.Moderator{Name: name, Role: role, TokenHash: hash}
	err := db.WithContext(ctx).Create(m).Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return "", nil, &models.Error{Code: models.ECONFLICT, Field: "name", Message: "un modérateur porte déjà ce nom"}
	} else if err != nil {
		return "", nil, err
	}
	return token, m, nil
}

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
	token, m, err := CreateModerator(c.Request.Context(), s.db, req.Name, models.Role(req.Role))
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
