package api

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"jardinier/models"
	"jardinier/workflows"
)

// The pages of a space's contact.
const (
	pageSpace     = "space"     // what the contact of a space can ask for
	pageRequested = "requested" // the request is passed on, whether the space exists or not
)

// spaceRequests maps the answer of the page's "request" question to the request the
// space's workflow takes; the JSON API has one path per request.
var spaceRequests = map[string]string{
	"deactivation":      workflows.UpdateDeactivate,
	"deletion":          workflows.UpdateDelete,
	"reactivation_link": workflows.UpdateReactivate,
}

// contactData is what the contact's page shows.
type contactData struct {
	Form    formState
	Request string // requested: what was asked for
}

// contactPage offers the contact of a space to ask, by a link mailed to the contact's
// address, for its deactivation, its deletion, a new reactivation link, or a change of
// the contact's address (public_space_contact.go). ?espace= and
// ?demande= fill the form in, for the links of other pages.
func (s *Server) contactPage(c *gin.Context) {
	values := url.Values{"slug": {c.Query("espace")}, "request": {c.Query("demande")}}
	s.renderPage(c, http.StatusOK, pageSpace, contactData{Form: formState{values: values}})
}

// contactPageRequest passes a contact's request on, through the same code as the JSON API, and
// answers the same words whether the space exists or not.
func (s *Server) contactPageRequest(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		s.renderPage(c, http.StatusBadRequest, pageError, nil)
		return
	}
	form := c.Request.PostForm
	var errs models.FieldErrors
	slug := form.Get("slug")
	if form.Get("request") == requestContactChange {
		// Checks the name and the address at once.
		err := s.requestContactChange(c.Request.Context(), slug, form.Get("new_email"))
		if models.ErrorCode(err) == models.EUNAVAILABLE {
			s.renderPage(c, http.StatusServiceUnavailable, pageUnavailable, pageData{})
			return
		}
		errs.Add(err)
	} else {
		action, ok := contactAction(form.Get("request"))
		if !ok {
			errs.Add(models.FieldError("request", "choisissez ce que vous demandez"))
		}
		if slug == "" {
			errs.Add(models.FieldError("slug", "est obligatoire"))
		} else if err := models.ValidateSlug(slug); models.ErrorCode(err) == models.EINVALID {
			errs.Add(err)
		}
		in, err := contactRequestOf(action, form.Get("suite"))
		errs.Add(err)
		if len(errs) == 0 {
			errs.Add(s.passContactRequestInput(c.Request.Context(), slug, in))
		}
	}
	if len(errs) > 0 {
		errs.Sort([]string{"slug", "request", "new_email", "suite"})
		s.renderPage(c, http.StatusBadRequest, pageSpace, contactData{Form: formState{values: form, Errors: errs}})
		return
	}
	s.renderPage(c, http.StatusAccepted, pageRequested, contactData{Form: formState{values: form}, Request: form.Get("request")})
}
