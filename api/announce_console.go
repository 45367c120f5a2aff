package api

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// The console's announcement screens (admin).
const (
	consoleAnnouncements = "announcements" // the list, and the form to write one
	consoleAnnouncement  = "announcement"  // one announcement: its text, audience, sending and progress
)

// announcementConsoleRoutes adds the announcement screens to the admins' group.
func (s *Server) announcementConsoleRoutes(admin *gin.RouterGroup) {
	admin.GET("/annonces", s.announcementsPage)
	admin.POST("/annonces", s.writeAnnouncementFromConsole)
	admin.GET("/annonces/:id", s.announcementPage)
	admin.GET("/annonces/:id/progression", s.announcementProgressFragment)
	admin.POST("/annonces/:id", s.actOnAnnouncementFromConsole)
}

// announcementForm is what the form to write an announcement holds.
type announcementForm struct {
	Subject  string
	Body     string
	Audience string
	Statuses map[string]bool
	Versions string // comma-separated
	Offices  map[string]bool
}

// announcementsData is the list of announcements and the form to write one.
type announcementsData struct {
	Items   []announcementView
	Total   int64
	Params  url.Values
	Page    int
	Pages   int
	Form    announcementForm
	Preview *int64 // the count of the form's audience, once asked for
	// PreviewSpaces: Preview counts the spaces whose admins will be read, not people.
	PreviewSpaces bool
	// The choices of the form.
	Audiences []models.Audience
	Statuses  []models.Status
	Offices   []models.OfficeSuite
}

func (s *Server) announcementsView(c *gin.Context, form announcementForm) (*consoleView, error) {
	page, err := pageParam(c)
	if err != nil {
		return nil, err
	}
	rows, total, err := models.ListAnnouncements(c.Request.Context(), s.db, (page-1)*pageSize, pageSize)
	if err != nil {
		return nil, err
	}
	d := &announcementsData{Total: total, Page: page, Pages: pagesOf(total), Params: url.Values{}, Form: form,
		Audiences: models.Audiences, Statuses: models.AnnouncedStatuses, Offices: models.OfficeSuites}
	for _, a := range rows {
		d.Items = append(d.Items, viewOfAnnouncement(a))
	}
	if d.Form.Audience == "" {
		d.Form.Audience = string(models.AudienceContacts)
	}
	return s.newView(c, "annonces", d), nil
}

// announcementsPage lists the announcements, with the form to write one.
func (s *Server) announcementsPage(c *gin.Context) {
	v, err := s.announcementsView(c, announcementForm{})
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleAnnouncements, v)
}

// consoleAdminsFiltered is the form's choice of the admins of the spaces chosen: the
// audience admins with the filter.
const consoleAdminsFiltered = "admins-filter"

// announcementFormOf reads the form, and the API's request it stands for: the filter's
// fields count only when the audience is the filter or the admins of the spaces chosen.
func announcementFormOf(c *gin.Context) (announcementForm, announcementRequest) {
	f := announcementForm{Subject: c.PostForm("subject"), Body: c.PostForm("body"), Audience: c.PostForm("audience"),
		Versions: c.PostForm("version"), Statuses: map[string]bool{}, Offices: map[string]bool{}}
	req := announcementRequest{Subject: f.Subject, Body: f.Body, Audience: f.Audience}
	filter := &announcementFilterRequest{}
	for _, v := range c.PostFormArray("status") {
		f.Statuses[v] = true
		filter.Statuses = append(filter.Statuses, v)
	}
	for _, v := range c.PostFormArray("office") {
		f.Offices[v] = true
		filter.OfficeSuites = append(filter.OfficeSuites, v)
	}
	for _, v := range strings.FieldsFunc(f.Versions, func(r rune) bool { return r == ',' || r == ' ' }) {
		filter.Versions = append(filter.Versions, v)
	}
	switch f.Audience {
	case string(models.AudienceFilter):
		req.Filter = filter
	case consoleAdminsFiltered:
		req.Audience, req.Filter = string(models.AudienceAdmins), filter
	}
	return f, req
}

// writeAnnouncementFromConsole counts the form's audience (action=preview, which
// changes nothing) or stores the draft through the same function as the API.
func (s *Server) writeAnnouncementFromConsole(c *gin.Context) {
	form, req := announcementFormOf(c)
	ctx := c.Request.Context()
	if c.PostForm("action") == "preview" {
		n, err := s.countAudience(ctx, models.Audience(req.Audience), req.Filter.filter())
		v, verr := s.announcementsView(c, form)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		if err != nil {
			s.formFailed(c, err, consoleAnnouncements, v)
			return
		}
		v.Page.(*announcementsData).Preview = &n
		v.Page.(*announcementsData).PreviewSpaces = req.Audience == string(models.AudienceAdmins)
		s.renderConsole(c, http.StatusOK, consoleAnnouncements, v)
		return
	}
	a, err := s.writeAnnouncement(ctx, currentModerator(c), req)
	if err != nil {
		v, verr := s.announcementsView(c, form)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		s.formFailed(c, err, consoleAnnouncements, v)
		return
	}
	redirectDone(c, consolePrefix+"/annonces/"+url.PathEscape(a.ID), "annonce")
}

// announcementData is one announcement with its progress.
type announcementData struct {
	A    *announcementView
	Poll string // the progress fragment's address
}

func (s *Server) announcementViewOf(c *gin.Context) (*consoleView, error) {
	a, err := s.announcementOf(c.Request.Context(), c.Param("id"))
	if err != nil {
		return nil, err
	}
	return s.newView(c, "annonces", &announcementData{A: a,
		Poll: consolePrefix + "/annonces/" + url.PathEscape(a.ID) + "/progression"}), nil
}

// announcementPage shows an announcement, the button to send it or the controls of its
// sending, and its progress, which the page's script refreshes.
func (s *Server) announcementPage(c *gin.Context) {
	v, err := s.announcementViewOf(c)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleAnnouncement, v)
}

// announcementProgressFragment is the progress part of the page alone, for its script.
func (s *Server) announcementProgressFragment(c *gin.Context) {
	v, err := s.announcementViewOf(c)
	if err != nil {
		c.AbortWithStatus(statusOf[models.ErrorCode(err)])
		return
	}
	var buf bytes.Buffer
	if err := s.console[consoleAnnouncement].ExecuteTemplate(&buf, "progress", v); err != nil {
		s.logger.Error("Render announcement progress", "error", err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	for k, val := range consoleHeaders {
		c.Header(k, val)
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// actOnAnnouncementFromConsole sends, pauses, resumes or cancels through the same
// functions as the API; a refusal is shown on the page.
func (s *Server) actOnAnnouncementFromConsole(c *gin.Context) {
	id := c.Param("id")
	ctx := c.Request.Context()
	action := c.PostForm("action")
	var err error
	notice := "control"
	if action == "send" {
		_, err = s.sendAnnouncementAs(ctx, currentModerator(c), id)
		notice = "annonce_envoi"
	} else {
		_, err = s.controlAnnouncementAs(ctx, currentModerator(c), id, action, c.PostForm("reason"))
	}
	if err != nil {
		v, verr := s.announcementViewOf(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		s.formFailed(c, err, consoleAnnouncement, v)
		return
	}
	redirectDone(c, consolePrefix+"/annonces/"+url.PathEscape(id), notice)
}
