package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/workflows"
)

// statusOf maps application error codes to HTTP statuses, in one place.
var statusOf = map[string]int{
	models.EINVALID:      http.StatusBadRequest,
	models.ECONFLICT:     http.StatusConflict,
	models.ENOTFOUND:     http.StatusNotFound,
	models.EUNAUTHORIZED: http.StatusUnauthorized,
	models.EFORBIDDEN:    http.StatusForbidden,
	models.ELIMIT:        http.StatusTooManyRequests,
	models.EUNAVAILABLE:  http.StatusServiceUnavailable,
	models.EINTERNAL:     http.StatusInternalServerError,
}

// codeOfRefusal maps the error types of the workflows' update validators to
// application error codes, in one place.
var codeOfRefusal = map[string]string{
	workflows.ErrTypeInvalidInput: models.EINVALID,
	workflows.ErrTypeNotAllowed:   models.ECONFLICT,
	workflows.ErrTypeBusy:         models.ECONFLICT,
	workflows.ErrTypeStaleLink:    models.ECONFLICT,
	workflows.ErrTypeTooSoon:      models.ECONFLICT,
	workflows.ErrTypeNotApplied:   models.EUNAVAILABLE,
	// A switch that failed was undone: the space keeps its suite, try again later.
	workflows.ErrTypeOfficeFailed: models.EUNAVAILABLE,
}

// updateError turns the failure of an update into an error for the user: a validator's
// refusal keeps its message and the field at fault, with the code of its type; a
// missing or finished workflow is ENOTFOUND, saying missing; anything else is internal.
func updateError(err error, missing string) error {
	var (
		appErr   *temporal.ApplicationError
		notFound *serviceerror.NotFound
	)
	if errors.As(err, &notFound) {
		return models.Errorf(models.ENOTFOUND, "%s", missing)
	}
	if errors.As(err, &appErr) {
		if code, ok := codeOfRefusal[appErr.Type()]; ok {
			var r workflows.Refusal
			if appErr.HasDetails() {
				if derr := appErr.Details(&r); derr != nil {
					return fmt.Errorf("read the refusal of an update: %w (%w)", derr, err)
				}
			}
			return &models.Error{Code: code, Field: r.Field, Message: appErr.Message()}
		}
	}
	return fmt.Errorf("update workflow: %w", err)
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
	// Errors lists every field error at once (a form), the first one being Error.
	Errors []fieldErrorDetail `json:"errors,omitempty"`
}

// fieldErrorDetail is one field error of a list.
type fieldErrorDetail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// writeError answers with the error's code and message; an internal error is logged
// with its context and the user sees a plain message, never its details.
func (s *Server) writeError(c *gin.Context, err error) {
	var e *models.Error
	if !errors.As(err, &e) {
		s.logger.Error("Internal error", "method", c.Request.Method, "path", c.FullPath(), "error", err)
		e = models.Errorf(models.EINTERNAL, "erreur interne, réessayez plus tard")
	}
	status := statusOf[e.Code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="jardinier"`)
	}
	body := errorBody{Error: errorDetail{Code: e.Code, Field: e.Field, Message: e.Message}}
	if list := models.FieldErrorsOf(err); e.Field != "" {
		for _, fe := range list {
			body.Errors = append(body.Errors, fieldErrorDetail{Field: fe.Field, Message: fe.Message})
		}
	}
	c.AbortWithStatusJSON(status, body)
}
