package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// openingState is whether the service takes applications now, for the form page and
// every submission.
type openingState struct {
	Closed  bool   // an admin closed applications
	Full    bool   // the cap on the number of spaces is reached
	Message string // the admin's words, such as the reopening date
}

// Takes tells whether a submission may be recorded.
func (o openingState) Takes() bool { return !o.Closed && !o.Full }

// err is the JSON API's answer to a submission while the service takes none.
func (o openingState) err() error {
	msg := "les demandes d'espace sont fermées pour le moment"
	if !o.Closed {
		msg = "le service héberge autant d'espaces qu'il le peut : les demandes rouvriront quand de la place se libérera"
	}
	if o.Message != "" {
		msg += " : " + o.Message
	}
	return models.Errorf(models.EUNAVAILABLE, "%s", msg)
}

// opening reads the admin's settings and, with a cap, counts the open spaces.
func (s *Server) opening(ctx context.Context) (openingState, error) {
	o, err := models.LoadOpening(ctx, s.db)
	if err != nil {
		return openingState{}, err
	}
	st := openingState{Closed: o.Closed, Message: o.Message}
	if !o.Closed && o.MaxSpaces > 0 {
		n, err := models.CountOpenSpaces(ctx, s.db)
		if err != nil {
			return openingState{}, err
		}
		st.Full = n >= int64(o.MaxSpaces)
	}
	return st, nil
}

// applicationsOpen refuses a submission while the service takes none.
func (s *Server) applicationsOpen(ctx context.Context) error {
	st, err := s.opening(ctx)
	if err != nil {
		return err
	}
	if !st.Takes() {
		return st.err()
	}
	return nil
}

// openingRequest is an admin's change of the opening settings; a missing field keeps
// its value.
type openingRequest struct {
	Closed    *bool   `json:"closed"`
	Message   *string `json:"message"`
	MaxSpaces *int    `json:"max_spaces"`
}

// openingResponse is the settings and what they mean now.
type openingResponse struct {
	Closed     bool   `json:"closed"`
	Message    string `json:"message"`
	MaxSpaces  int    `json:"max_spaces"`
	OpenSpaces int64  `json:"open_spaces"`
	Accepting  bool   `json:"accepting"`
}

func (s *Server) openingResponse(ctx context.Context, o models.Opening) (openingResponse, error) {
	n, err := models.CountOpenSpaces(ctx, s.db)
	if err != nil {
		return openingResponse{}, err
	}
	st, err := s.opening(ctx)
	if err != nil {
		return openingResponse{}, err
	}
	return openingResponse{Closed: o.Closed, Message: o.Message, MaxSpaces: o.MaxSpaces, OpenSpaces: n, Accepting: st.Takes()}, nil
}

// getOpening shows whether applications are open, with the cap and the count it bounds.
func (s *Server) getOpening(c *gin.Context) {
	ctx := c.Request.Context()
	o, err := models.LoadOpening(ctx, s.db)
	if err == nil {
		var resp openingResponse
		if resp, err = s.openingResponse(ctx, o); err == nil {
			c.JSON(http.StatusOK, resp)
			return
		}
	}
	s.writeError(c, err)
}

// setOpening closes or opens applications, with the message the form shows, and sets
// the cap on the number of spaces (0: none).
func (s *Server) setOpening(c *gin.Context) {
	var req openingRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	o, err := models.LoadOpening(ctx, s.db)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if req.Closed != nil {
		o.Closed = *req.Closed
	}
	if req.Message != nil {
		o.Message = *req.Message
	}
	if req.MaxSpaces != nil {
		o.MaxSpaces = *req.MaxSpaces
	}
	o.UpdatedBy = currentModerator(c).Name
	if o, err = models.SaveOpening(ctx, s.db, o); err != nil {
		s.writeError(c, err)
		return
	}
	s.logger.Info("Opening of applications changed", "closed", o.Closed, "max_spaces", o.MaxSpaces, "admin", o.UpdatedBy)
	resp, err := s.openingResponse(ctx, o)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}
