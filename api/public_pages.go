package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// The pages of the public site.
const (
	pageHome    = "home"    // what the service offers, who may apply
	pageApply   = "apply"   // the application form
	pageApplied = "applied" // the application is received: what happens next
	pageClosed  = "closed"  // applications are closed, or the service is full
	pageLimited = "limited" // too many requests from this address
	pageTerms   = "terms"   // the terms of use the form asks to accept
)

// policyWords are the inactivity policy's steps, for pages to say them in words.
type policyWords struct {
	FirstWarning, SecondWarning, Deactivation, DeletionNotice, Deletion time.Duration
}

func newPolicyWords(p models.InactivityPolicy) policyWords {
	return policyWords{p.Offset(models.StepFirstWarning), p.Offset(models.StepSecondWarning),
		p.Offset(models.StepDeactivation), p.Offset(models.StepDeletionNotice), p.Offset(models.StepDeletion)}
}

// serviceFacts are what the home and form pages say of the service: the limits of a
// space, its apps, the policy the system applies.
type serviceFacts struct {
	MaxAccounts  int
	StorageGB    int
	MaxVideoMB   int
	Apps         []string
	Policy       policyWords
	ReservedDays int
	BaseDomain   string
}

// serviceFacts reads the facts, with the inactivity policy and the default limits in
// force: an admin may have changed them since the process started.
func (s *Server) serviceFacts(ctx context.Context) (serviceFacts, error) {
	v, err := models.CurrentPolicy(ctx, s.db, s.cfg.Policy)
	if err != nil {
		return serviceFacts{}, err
	}
	p, err := v.Offsets()
	if err != nil {
		return serviceFacts{}, err
	}
	lv, err := models.CurrentLimits(ctx, s.db, s.cfg.Limits)
	if err != nil {
		return serviceFacts{}, err
	}
	l := lv.Limits()
	return serviceFacts{MaxAccounts: l.MaxAccounts, StorageGB: int(l.QuotaGB()),
		MaxVideoMB: int(l.MaxVideoMB()), Apps: s.cfg.NextcloudApps, Policy: newPolicyWords(p),
		ReservedDays: models.SlugReservationDays, BaseDomain: s.cfg.BaseDomain}, nil
}

// siteHomeData is what the home page shows.
type siteHomeData struct {
	serviceFacts
	Opening openingState
}

// siteHome says what the service offers, who may apply and how a space stays alive.
func (s *Server) siteHome(c *gin.Context) {
	st, err := s.opening(c.Request.Context())
	if err != nil {
		s.writePageError(c, err)
		return
	}
	facts, err := s.serviceFacts(c.Request.Context())
	if err != nil {
		s.writePageError(c, err)
		return
	}
	s.renderPage(c, http.StatusOK, pageHome, siteHomeData{serviceFacts: facts, Opening: st})
}

// termsPage shows the terms of use, with the figures the system applies.
func (s *Server) termsPage(c *gin.Context) {
	facts, err := s.serviceFacts(c.Request.Context())
	if err != nil {
		s.writePageError(c, err)
		return
	}
	s.renderPage(c, http.StatusOK, pageTerms, facts)
}

// applyData is what the form page shows.
type applyData struct {
	serviceFacts
	Form formState
	// The lists the form offers, from the models, so that a value the API accepts is
	// never missing from the page (the template gives each its French label).
	Types   []models.OrganizationType
	Sectors []string
	Suites  []models.OfficeSuite
	MaxText int
	MaxName int
	MinYear int
	MaxYear int
}

// renderApply shows the form page in the state form.
func (s *Server) renderApply(c *gin.Context, status int, form formState) {
	facts, err := s.serviceFacts(c.Request.Context())
	if err != nil {
		s.writePageError(c, err)
		return
	}
	s.renderPage(c, status, pageApply, s.applyData(facts, form))
}

func (s *Server) applyData(facts serviceFacts, form formState) applyData {
	return applyData{serviceFacts: facts, Form: form, Types: models.OrganizationTypes,
		Sectors: models.Sectors, Suites: models.OfficeSuites, MaxText: models.MaxTextLength,
		MaxName: models.MaxNameLength, MinYear: models.MinFoundedYear, MaxYear: s.now().In(models.Paris).Year()}
}

// closedData is what the page shown instead of the form says.
type closedData struct {
	Opening openingState
	Refused bool // a form was sent meanwhile, and not recorded
}

// applyForm shows the application form, or why applications are not taken now.
func (s *Server) applyForm(c *gin.Context) {
	st, err := s.opening(c.Request.Context())
	if err != nil {
		s.writePageError(c, err)
		return
	}
	if !st.Takes() {
		s.renderPage(c, http.StatusOK, pageClosed, closedData{Opening: st})
		return
	}
	// The default office suite is chosen, as the API chooses it for an empty answer.
	s.renderApply(c, http.StatusOK, formState{values: url.Values{"office_suite": {string(models.OfficeCollabora)}}})
}

// apply takes the form through the same submission as the JSON API. A refusal shows
// the form again with every value typed and every error; a success leads to the
// confirmation page.
func (s *Server) apply(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		s.renderPage(c, http.StatusBadRequest, pageError, nil)
		return
	}
	form := c.Request.PostForm
	req, decodeErrs := decodeApplicationForm(form)
	app, err := s.submit(c.Request.Context(), req, decodeErrs)
	if err == nil {
		c.Redirect(http.StatusSeeOther, "/demande/envoyee?"+url.Values{"espace": {app.Slug}}.Encode())
		return
	}
	errs := models.FieldErrorsOf(err)
	switch code := models.ErrorCode(err); {
	case code == models.EUNAVAILABLE && errs[0].Field == "":
		if st, oerr := s.opening(c.Request.Context()); oerr == nil && !st.Takes() {
			s.renderPage(c, http.StatusServiceUnavailable, pageClosed, closedData{Opening: st, Refused: true})
			return
		}
		s.writePageError(c, err)
		return
	case code == models.EINTERNAL || len(errs) == 0 || errs[0].Field == "":
		s.writePageError(c, err)
		return
	}
	if req.Slug == "" && !errs.Has("organization_name") {
		// Without the script that proposes a name, the server proposes it: the person
		// sees it in the field and keeps or changes it.
		form.Set("slug", models.SlugFromName(req.OrganizationName))
	}
	status := http.StatusBadRequest
	if models.ErrorCode(err) == models.ECONFLICT {
		status = http.StatusConflict
	}
	s.renderApply(c, status, formState{values: form, Errors: errs})
}

// appliedData is what the confirmation page shows.
type appliedData struct{ Slug string }

// appliedPage says the application is received and what happens next.
func (s *Server) appliedPage(c *gin.Context) {
	slug := c.Query("espace")
	if models.ValidateSlug(slug) != nil {
		slug = ""
	}
	s.renderPage(c, http.StatusOK, pageApplied, appliedData{Slug: slug})
}

// slugAnswer is the answer of the slug check.
type slugAnswer struct {
	Slug      string `json:"slug"`
	Available bool   `json:"available"`
	Address   string `json:"address,omitempty"` // the space's address, if it is free
	Message   string `json:"message,omitempty"`
}

// checkSlug proposes a slug from ?organization_name= when ?slug= is empty, and says
// whether it is free: the form's script calls it as the person types. It reads the same
// rules a submission applies.
func (s *Server) checkSlug(c *gin.Context) {
	slug := c.Query("slug")
	if slug == "" {
		slug = models.SlugFromName(c.Query("organization_name"))
	}
	ans := slugAnswer{Slug: slug}
	err := models.ValidateSlug(slug)
	if err == nil {
		err = slugTaken(s.db.WithContext(c.Request.Context()), slug, s.now().UTC())
	}
	switch code := models.ErrorCode(err); code {
	case "":
		ans.Available, ans.Address = true, s.spaceURL(slug)
	case models.EINVALID, models.ECONFLICT:
		ans.Message = models.FieldErrorsOf(err)[0].Message
	default:
		if c.Request.Context().Err() != nil {
			c.Abort() // the page went on: nobody waits for the answer
			return
		}
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, ans)
}
